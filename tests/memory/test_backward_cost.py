"""Backward costs against independent sources: torch.utils.flop_counter on a real backward (its total
halved, as it counts 2 per multiply-add) wherever it has the op's formula, and closed forms written here
where it has none or counts otherwise."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count

from costmodel import memory_report
from costmodel.inputs import TensorSpec, materialise, normalise_inputs
from costmodel.memory.step import record_step
from costmodel.rules.costing import cost_calls
from costmodel.zoo import ZOO

CONTRACTIONS = ("conv", "linear", "matmul", "attention")


def backward_contraction_flops(model: nn.Module, inputs: Any) -> int:
    record = record_step(model, inputs, mode="train")
    costed = cost_calls([op.call for op in record.ledger.ops])
    backward = [c for op, c in zip(record.ledger.ops, costed) if op.phase == "backward"]
    return sum(c.cost.flops for c in backward if c.cost and c.family in CONTRACTIONS)


def flop_counter_backward(model: nn.Module, inputs: Any) -> tuple[int, dict[str, int]]:
    """flop_counter's count of a real backward of Σ outputs.sum(), halved; attention on the math path."""
    spec = normalise_inputs(inputs)

    def make(s: TensorSpec) -> torch.Tensor:
        dtype = s.dtype or torch.float32
        return torch.randn(s.shape) if dtype.is_floating_point else torch.zeros(s.shape, dtype=dtype)

    args, kwargs = materialise(spec.args, make), materialise(spec.kwargs, make)
    copy = __import__("copy").deepcopy(model).train()
    out = copy(*args, **kwargs)
    values = out.values() if isinstance(out, dict) else (out if isinstance(out, tuple) else [out])
    loss = sum(t.sum() for t in values if isinstance(t, torch.Tensor) and t.requires_grad)
    counter = FlopCounterMode(display=False)
    with counter:
        loss.backward()  # type: ignore[union-attr]
    by_op = {str(k): v // 2 for k, v in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops() // 2, by_op


def _bert() -> tuple[nn.Module, Any]:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(num_hidden_layers=2, attn_implementation="eager")
    return transformers.BertModel(config), {"input_ids": TensorSpec((2, 32), torch.int64)}


def _gpt2() -> tuple[nn.Module, Any]:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, attn_implementation="eager")
    return transformers.GPT2Model(config), {"input_ids": TensorSpec((2, 32), torch.int64)}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda: (ZOO["resnet18"](), (2, 3, 64, 64)), id="resnet18"),
        pytest.param(lambda: (ZOO["resnet50"](), (1, 3, 64, 64)), id="resnet50"),
        pytest.param(_bert, id="bert"),
        pytest.param(_gpt2, id="gpt2"),
    ],
)
def test_backward_contraction_flops_equal_flop_counter(case: Any) -> None:
    model, inputs = case()
    oracle, _ = flop_counter_backward(model, inputs)
    assert backward_contraction_flops(model, inputs) == oracle


def test_grouped_conv_backward_against_a_closed_form() -> None:
    """flop_counter counts a grouped conv's weight gradient g times over (it ignores the groups); the
    weight gradient of a conv with c1/g input channels per group costs what its forward does."""
    n, c, h, k, g = 2, 32, 10, 3, 8
    model = nn.Sequential(nn.Conv2d(c, c, k, padding=1, groups=g, bias=False))
    forward = n * h * h * c * (c // g) * k * k
    x = TensorSpec((n, c, h, h))
    # the input needs no gradient: only the weight gradient is computed
    assert backward_contraction_flops(model, (x,)) == forward
    _, by_op = flop_counter_backward(model, (x,))
    assert by_op["aten.convolution_backward"] == g * forward  # the peer's overcount, for the record


class InputGradient(nn.Module):
    """A parameter before the conv makes its input require a gradient: both gradients are computed."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.conv = nn.Conv2d(6, 12, 3, stride=2, groups=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x * self.scale)


def test_conv_backward_computes_both_gradients_at_the_forward_cost_each() -> None:
    n, h = 2, 11
    out = (h - 3) // 2 + 1
    forward = n * out * out * 12 * (6 // 3) * 9
    assert backward_contraction_flops(InputGradient(), (n, 6, h, h)) == 2 * forward


def test_attention_backward_matches_flop_counters_formula() -> None:
    """The CPU flash kernel's backward has no formula in flop_counter; its formula for the other sdpa
    backward kernels, applied to the same shapes, is the oracle."""

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q = nn.Linear(16, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = self.q(x).view(2, 5, 4, 4).transpose(1, 2)
            return nn.functional.scaled_dot_product_attention(q, q, q)

    record = record_step(Attention(), (2, 5, 16), mode="train")
    costed = cost_calls([op.call for op in record.ledger.ops])
    attention = [c for op, c in zip(record.ledger.ops, costed) if op.phase == "backward" and c.family == "attention"]
    assert len(attention) == 1
    assert attention[0].cost is not None
    assert attention[0].cost.flops == sdpa_backward_flop_count((2, 4, 5, 4), (2, 4, 5, 4), (2, 4, 5, 4), (2, 4, 5, 4)) // 2


def test_every_backward_op_of_the_corpus_has_a_rule() -> None:
    for name in ("resnet18", "mobilenet_v2", "shufflenet_v2_x1_0", "shufflenet_v1_g3"):
        report = memory_report(ZOO[name](), (1, 3, 64, 64), mode="train", optimizer="adamw")
        assert report.complete, (name, report.uncounted)
        assert report.total("flops", ("backward",)) > report.total("flops", ("forward",))
        assert math.isclose(report.total("flops"), sum(p["flops"] for p in report.phases.values()))


def test_weight_norm_backward_against_a_closed_form() -> None:
    """A weight-normed linear (w = g·v/‖v‖, torch's parametrization): its backward runs
    _weight_norm_interface_backward over v, 5 FLOPs per element, and the two mm of the linear."""
    layer = nn.utils.parametrizations.weight_norm(nn.Linear(12, 6, bias=False))
    record = record_step(nn.Sequential(layer), (4, 12), mode="train")
    costed = cost_calls([op.call for op in record.ledger.ops])
    backward = [c for op, c in zip(record.ledger.ops, costed) if op.phase == "backward"]
    norm = [c for c in backward if c.call.short == "_weight_norm_interface_backward"]
    assert len(norm) == 1 and norm[0].cost is not None and norm[0].cost.flops == 5 * 6 * 12
    assert all(c.cost is not None for c in costed)
