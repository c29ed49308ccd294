"""The aten walk on real tensors (a forward whose shapes depend on values: routing, masks): the user's
parameters are read in place rather than copied (a mixture of experts' weights take seconds and gigabytes
to copy), and any write to one — caught by the forward or not — sends the walk to a private copy of
everything, so the model is never changed."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from costmodel import analyze
from costmodel.trace.aten_walk import aten_walk


class Routed(nn.Module):
    """Top-1 routing to two experts: which tokens an expert gets depends on values (``nonzero``)."""

    def __init__(self, dim: int = 64, wide: int = 256) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, 2)
        self.experts = nn.ModuleList(nn.Linear(dim, wide) for _ in range(2))
        self.register_buffer("seen", torch.zeros(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        choice = self.gate(x).argmax(-1)
        out = x.new_zeros(x.shape[0], self.experts[0].out_features)
        for i, expert in enumerate(self.experts):
            rows = (choice == i).nonzero().squeeze(-1)
            out[rows] = expert(x[rows])
            self.seen[i] += rows.numel()  # a buffer the forward writes: always a private copy
        return out


class WritesWeight(Routed):
    """Routing, and an in-place update of a parameter (a running correction kept in a weight)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.gate.bias.add_(1.0)
        return super().forward(x)


class CatchesTheWrite(Routed):
    """A forward that swallows the error of its in-place update and goes on."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            with torch.no_grad():
                self.gate.weight.mul_(2.0)
        except Exception:  # noqa: BLE001  # the point of the case
            pass
        return super().forward(x)


def _clones_of(monkeypatch: pytest.MonkeyPatch, numel: int) -> list[int]:
    """Count from now on the clones of tensors of ``numel`` elements (the experts' weights)."""
    seen: list[int] = []
    clone = torch.Tensor.clone

    def counted(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.numel() == numel:
            seen.append(1)
        return clone(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "clone", counted)
    return seen


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_real_values_walk_reads_the_parameters_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = Routed().eval()
    before = _state(model)
    clones = _clones_of(monkeypatch, 256 * 64)
    walk = aten_walk(model, (16, 64))
    assert walk.real and clones == []  # the experts' weights were not copied
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the buffer's copy was written
    # every routed token passes through one expert: 16 rows × 64 × 256 multiply-adds in all, plus the gate
    report = analyze(model, (16, 64))
    assert report.contraction_flops == 16 * 64 * 256 + 16 * 64 * 2


@pytest.mark.parametrize("kind", [WritesWeight, CatchesTheWrite])
def test_a_forward_writing_a_parameter_runs_on_a_copy(kind: type, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = kind().eval()
    before = _state(model)
    versions = {name: p._version for name, p in model.named_parameters()}
    clones = _clones_of(monkeypatch, 256 * 64)
    walk = aten_walk(model, (16, 64))
    assert walk.real and len(clones) == 2  # refused in place, then run on a private copy of each expert
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert {name: p._version for name, p in model.named_parameters()} == versions  # not even written back
    assert any(call.op in ("aten::add_", "aten::mul_") for call in walk.calls)  # the write ran, on the copy
