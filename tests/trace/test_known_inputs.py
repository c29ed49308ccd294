"""Shapes that depend on the values of a model's integer inputs (XLM's lengths read by ``.item()``, a default
mask of ones, value-dependent selections): the fx walk traces again with those inputs real zeros — what
the aten walk's real forward gives them — instead of falling back to a real forward. Held to the aten walk
(same values: same shapes, same costs) and to closed forms; the model and the process stay untouched."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from costmodel import analyze
from costmodel.analyze import KNOWN_INPUTS_NOTE
from costmodel.trace.fake_propagation import KNOWN_LIMIT
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.model_errors import NeedsRealValues


class LengthMasked(nn.Module):
    """XLM's masks: lengths counted from the token ids, checked by ``.item()``, compared with positions (a
    (batch, 1) column of lengths: a one-element tensor that must broadcast, not become a number); a
    default attention mask of ones whose sum sizes a slice, read before anything else (the second trace
    must not replay the first one's factory); the tokens an id selects (``nonzero``); Longformer's
    overlapping windows, their count a tensor inside a keyword argument's tuple."""

    def __init__(self, vocab: int = 50, dim: int = 8, pad: int = 2) -> None:
        super().__init__()
        self.pad = pad
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, length = ids.size()
        ones = torch.ones(batch, length, dtype=torch.long, device=ids.device)
        kept = int(ones.sum(dim=1).max())  # a size read from a default mask (the first trace stops here)
        lengths = (ids != self.pad).sum(dim=1).long()
        assert lengths.max().item() <= length
        mask = torch.arange(length, dtype=torch.long, device=ids.device) < lengths[:, None]
        assert mask.size() == (batch, length)
        x = self.proj(self.embed(ids) * mask[..., None])[:, :kept]
        starts = (ids == 0).nonzero()  # every position: the ids are zeros
        chunks = torch.div(lengths.max(), 2, rounding_mode="trunc")  # Longformer's chunk count
        windows = x.contiguous().as_strided(
            size=(batch, chunks, 2, x.shape[-1]), stride=x.contiguous().stride()[:1] + (2 * x.shape[-1], x.shape[-1], 1)
        )
        return x, x[starts[:, 0], starts[:, 1]], windows


def test_value_dependent_shapes_take_the_fx_walk_with_zero_inputs() -> None:
    batch, length, dim = 2, 7, 8
    spec = {"ids": ((batch, length), torch.int64)}
    report = analyze(LengthMasked(dim=dim), spec)
    assert report.walk == "fx" and report.notes[0] == KNOWN_INPUTS_NOTE and report.uncounted == []
    aten = analyze(LengthMasked(dim=dim), spec, fallback=True)
    assert aten.walk == "aten" and "real tensors" in aten.notes[0]
    assert (report.totals, report.contraction_flops) == (aten.totals, aten.contraction_flops)
    assert report.contraction_flops == batch * length * dim * dim  # the projection of every token
    assert report.layers[-1].output_shape == [batch * length, dim]  # nonzero of zero ids: every position


def test_without_value_dependent_shapes_the_inputs_stay_unknown() -> None:
    """The second trace happens only where the first needed values: a model whose shapes depend on the
    token count alone is traced once, on fake inputs, with no note."""
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 3))
    report = analyze(model, {"input": ((2, 5), torch.int64)})
    assert report.walk == "fx" and KNOWN_INPUTS_NOTE not in report.notes


def test_inputs_past_the_limit_are_never_made_real() -> None:
    """A token tensor larger than ``KNOWN_LIMIT`` stays fake: the trace needs values, the aten walk runs."""
    length = KNOWN_LIMIT // 2 + 1
    with pytest.raises(NeedsRealValues):
        trace_model(LengthMasked(), {"ids": ((2, length), torch.int64)}, known_inputs=True)
    assert analyze(LengthMasked(), {"ids": ((2, length), torch.int64)}).walk == "aten"


def test_a_known_inputs_trace_leaves_the_model_and_the_process_untouched() -> None:
    model = LengthMasked().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    rngs = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    analyze(model, {"ids": ((2, 7), torch.int64)})
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert random.getstate() == rngs[0] and (np.random.get_state()[1] == rngs[1]).all()
    assert torch.equal(torch.get_rng_state(), rngs[2]) and not model.training and torch.is_grad_enabled()
