"""Builders the sweep tests call by spec (``tests.sweeps.builders:NAME``): small networks whose knobs are
widths, groups, depth and a flag, with knob combinations that fail to build or to run."""

from __future__ import annotations

import torch
from torch import nn


class GroupedNet(nn.Module):
    """Stem, ``depth`` grouped 1x1 + depthwise 3x3 blocks of ``width`` channels with ``groups`` groups
    (a residual add when ``residual``), pooled classifier. A width the groups do not divide fails in nn.Conv2d."""

    def __init__(self, width: int, groups: int, depth: int, residual: bool) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 2, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(width, width, 1, groups=groups, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, 1, 1, groups=width, bias=False),
            )
            for _ in range(depth)
        )
        self.residual = residual
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x) if self.residual else block(x)
        return self.head(x.mean((2, 3)))


def grouped_net(width: int = 32, groups: int = 1, depth: int = 2, residual: bool = True) -> nn.Module:
    """A GroupedNet; depth 0 raises (a builder's own check failing)."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    return GroupedNet(width, groups, depth, residual)


class FixedSizeNet(nn.Module):
    """A net whose head only runs at a 32x32 input: a flatten into a fixed Linear (fails at other sizes)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, 2, 1)
        self.head = nn.Linear(width * 16 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flatten(1))


def fixed_size_net(width: int = 8) -> nn.Module:
    """A FixedSizeNet."""
    return FixedSizeNet(width)


def not_a_module(width: int = 8) -> object:
    """Returns something that is not a model."""
    return {"width": width}
