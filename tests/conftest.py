"""Shared fixtures: zoo reports are computed once per session."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from torch import nn

from costmodel import Report, analyze
from costmodel.zoo import ZOO

TESTS = Path(__file__).parent
MODELS = TESTS / "models"


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
