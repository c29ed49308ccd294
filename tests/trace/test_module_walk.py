"""``module_paths`` walks a module tree exactly as ``named_modules`` does: same paths, same modules, same
order, with and without duplicates, on the zoo, shared and repeated layers, None children, deep nesting
and Hugging Face models."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from costmodel import load_model
from costmodel.trace.module_walk import module_paths
from costmodel.zoo import ZOO


class _Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 3, 1)
        self.a = conv
        self.blocks = nn.ModuleList([nn.Sequential(conv, nn.ReLU()), nn.Sequential(nn.ReLU(), conv)])
        self.missing = None
        self.register_module("empty", None)
        self.tail = nn.ModuleDict({"x": nn.Identity(), "y": self.blocks[0]})


class _OwnWalk(nn.Module):
    """A class that names its modules its own way: walked by its own method."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(2, 2)

    def named_modules(self, memo: Any = None, prefix: str = "", remove_duplicate: bool = True) -> Any:
        yield "renamed", self


def _deep(depth: int) -> nn.Module:
    model: nn.Module = nn.Linear(2, 2)
    for _ in range(depth):
        model = nn.Sequential(model, nn.ReLU())
    return model


def _same(model: nn.Module) -> None:
    for remove_duplicate in (True, False):
        expected = list(model.named_modules(remove_duplicate=remove_duplicate))
        got = module_paths(model, remove_duplicate)
        assert [p for p, _ in got] == [p for p, _ in expected]
        assert all(a is b for (_, a), (_, b) in zip(got, expected))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_walks_match_named_modules(name: str) -> None:
    _same(load_model(name))


def test_shared_none_deep_and_own_walks_match_named_modules() -> None:
    for model in (_Shared(), _deep(60), nn.Sequential(_OwnWalk(), nn.ReLU()), _OwnWalk(), nn.Linear(2, 2)):
        _same(model)


@pytest.mark.parametrize("config", ["BertConfig", "Swinv2Config", "EncodecConfig"])
def test_hugging_face_walks_match_named_modules(config: str) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    _same(transformers.AutoModel.from_config(getattr(transformers, config)()))
