"""Shared fixtures: zoo reports are computed once per session."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from torch import nn

from costmodel import Report, analyze
from costmodel.zoo import ZOO

TESTS = Path(__file__).parent
MODELS = TESTS / "models"


@pytest.fixture(autouse=True, scope="session")
def private_calibration_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Calibrations measured by the tests go to a temporary directory, never the user's ~/.cache."""
    saved = os.environ.get("COSTMODEL_CACHE_DIR")
    os.environ["COSTMODEL_CACHE_DIR"] = str(tmp_path_factory.mktemp("calibration-cache"))
    yield
    if saved is None:
        os.environ.pop("COSTMODEL_CACHE_DIR", None)
    else:
        os.environ["COSTMODEL_CACHE_DIR"] = saved


@functools.cache
def zoo_model(name: str) -> nn.Module:
    """One instance per zoo name (models are never mutated by analysis)."""
    return ZOO[name]().eval()


@functools.cache
def zoo_report(name: str) -> Report:
    """The analysis at 1x3x224x224, cached."""
    return analyze(zoo_model(name), (1, 3, 224, 224), name=name)


@pytest.fixture(params=sorted(ZOO))
def zoo_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)
