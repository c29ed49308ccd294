"""Small models for the tests: functional forms, shared weights, uncountable and untraceable ops."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class FunctionalNet(nn.Module):
    """Functional and method forms: F.conv2d with a get_attr weight, F.relu, torch.add, mean, F.linear."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.fc_weight = nn.Parameter(torch.randn(10, 8))
        self.fc_bias = nn.Parameter(torch.randn(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight, None, 1, 1)
        y = torch.add(F.relu(y), y.sigmoid())
        y = y.mean([2, 3])
        return F.linear(y, self.fc_weight, self.fc_bias)


class SharedConvNet(nn.Module):
    """One conv module applied twice: its parameters must count once."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


def _define_mystery() -> Any:
    """A custom operator no cost rule knows (until a test registers one). Defined once per process: this
    file is also loaded by path (``custom.py:always_branch_net``) as a second module, and a second
    definition would leave the first one's registrations to be freed with that module (a crash later)."""
    if hasattr(torch.ops.costmodel_test, "mystery"):
        return torch.ops.costmodel_test.mystery

    @torch.library.custom_op("costmodel_test::mystery", mutates_args=())
    def mystery(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @mystery.register_fake
    def _(x: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x)

    return mystery


mystery = _define_mystery()


class UpsampleNet(nn.Module):
    """A custom op without a rule: it must be listed as uncounted, never a silent zero."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mystery(self.conv(x))


class BranchyNet(nn.Module):
    """A forward that branches on a tensor's value: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.conv(x)
        return x


class AlwaysBranchNet(nn.Module):
    """Data-dependent control flow that always takes the conv path (|x| sums are never negative)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().sum() >= 0:
            x = torch.relu(self.conv(x))
        return self.fc(x.mean([2, 3]))


def always_branch_net() -> nn.Module:
    return AlwaysBranchNet()


class MyConv(nn.Conv2d):
    """A Conv2d subclass: must resolve to the Conv2d handler through the class hierarchy."""


class SubclassNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = MyConv(3, 6, 3, stride=2, padding=1, groups=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def functional_net() -> nn.Module:
    return FunctionalNet()


def upsample_net() -> nn.Module:
    return UpsampleNet()


def branchy_net() -> nn.Module:
    return BranchyNet()


def not_a_module() -> int:
    return 42


def raises() -> nn.Module:
    raise RuntimeError("boom")


NOT_CALLABLE = 3
