"""The rules for tensors a forward creates (factories, ``new_*``, ``*_like``), casts and device moves,
one-tensor element-wise math and activations of any layout, powers, ``cumsum``, ``diff``, ``gather``,
and torch.nn layers inherited by subclasses record what FakeTensorMode records, call for call and
stride for stride, and a model made of them runs no node on fake tensors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from costmodel.inputs import TensorSpec
from costmodel.trace.fx_trace import trace_model
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes

SPEC = ((TensorSpec((2, 7, 3)), TensorSpec((2, 7), torch.int64)), {})


class MaskPreamble(nn.Module):
    """What attention-mask and position code does before the first layer: factories sized by the input,
    tiling (ALiBi's ``repeat``), casts, device moves that change nothing, cumulative sums, powers (ALiBi
    slopes), dropout and softmax spelled with their keyword arguments."""

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor | int, ...]:
        n = ids.shape[1]
        factories = (
            torch.zeros(n, 2),
            torch.ones((n,)),
            torch.full((n, 1), 2),
            torch.full([n], True),
            torch.full((n,), 0.5, dtype=torch.float64),
            torch.zeros((), device=x.device, dtype=torch.float32),
            torch.ones(n, dtype=ids.dtype),
            torch.empty(n),
        )
        new = (
            ids.new_ones((), dtype=torch.bool),
            ids.new_ones((n, 2)),
            ids.new_zeros(n),
            x.new_full((n,), 3),
            ids.new_ones(n, 1, dtype=torch.float32),
            x.new_empty((n,)),
        )
        like = (torch.ones_like(x), torch.zeros_like(ids, dtype=torch.float32), torch.full_like(ids, 2), torch.full_like(x, 3.0))
        tiled = (x.repeat(1, 2, 1), x.repeat((2, 1, 1, 3)), x.transpose(0, 1).repeat(1, 1, 2), ids.repeat(3, 1))
        casts = (
            x.to(x.device),
            x.to("cpu"),
            ids.to(device=x.device, dtype=torch.float32),
            x.to(torch.device("cpu"), torch.float64),
            ids.long(),
            ids.int(),
            ids.bool(),
            x.type_as(ids),
            x.type_as(x),
        )
        sums = (ids.cumsum(-1), torch.cumsum(ids.int(), dim=1), torch.cumsum(x, 1, dtype=torch.float64), ids.bool().cumsum(1))
        math = (
            x.sin() + x.cos(),
            torch.pow(2.0, ids),
            2**ids,
            torch.pow(x, 2),
            x.pow(0.5),
            x**2,
            ids.pow(2),
            -x,
            -ids,
            torch.neg(x),
            x.sqrt(),
            torch.rsqrt(x),
            x.permute(2, 0, 1).exp(),
            x.transpose(0, 1).abs(),
            x[:, ::2].log(),
            x.sum().sqrt(),
            torch.erf(x).reciprocal(),
        )
        kept = (
            x.softmax(-1, dtype=torch.float32),
            nn.functional.softmax(x, dim=-1, dtype=torch.float32),
            nn.functional.dropout(x, p=0.1, training=False),
            2**n,
        )
        return *factories, *new, *like, *tiled, *casts, *sums, *math, *kept


class Unruled(nn.Module):
    """Cases the rules leave to FakeTensorMode: they must still come out exactly as it records them."""

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (
            ids.sin(),  # integer input promotes
            ids.pow(-1.5),
            x.softmax(-1, dtype=torch.float64),
            torch.ones_like(x.transpose(0, 2)),
            x.transpose(0, 1).cumsum(0),
            x.to(torch.float16, copy=True),
            torch.full((3,), 2.0, requires_grad=False),
        )


@pytest.mark.parametrize("model", [MaskPreamble, Unruled])
def test_created_and_pointwise_tensors_record_what_fake_records(model: type[nn.Module]) -> None:
    assert_rules_record_what_fake_records(model().eval(), SPEC)


def test_the_mask_preamble_runs_no_node_on_fake_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_fake_modes(monkeypatch)
    traced = trace_model(MaskPreamble().eval(), SPEC)
    assert traced.node_outcomes and not built


class DepthwiseConv(nn.Conv2d):
    """A layer that subclasses a torch.nn one for its constructor only (HF's EfficientNet depthwise conv)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, 3, padding=1, groups=channels)


class Scaled(nn.Linear):
    """A subclass that overrides forward: not the layer the Linear rule states."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2


class MoreGlue(nn.Module):
    """Differences (with a prepended or appended tensor) and gathers of positions, ``.T`` and ``.mT``,
    numbers times 0-dim tensors, activations of strided tensors, layers inherited by subclass, Flatten
    and ZeroPad2d modules, and weight-normed convolutions of a transposed input: over the first dim (the
    fused norm, by rule) and over a middle dim (torch decomposes the norm: left to FakeTensorMode)."""

    def __init__(self) -> None:
        super().__init__()
        self.depthwise, self.scaled = DepthwiseConv(7), Scaled(3, 3)
        self.flat, self.pad, self.relu, self.gelu = nn.Flatten(), nn.ZeroPad2d((1, 0, 1, 0)), nn.ReLU(), nn.GELU("tanh")
        self.normed = nn.utils.parametrizations.weight_norm(nn.Conv1d(3, 3, 1))
        self.unfused = nn.utils.parametrizations.weight_norm(nn.Conv1d(3, 3, 1), dim=1)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        image = x.unsqueeze(0)
        return (
            torch.diff(ids, dim=-1),
            ids.diff(),
            torch.diff(x, dim=1),
            torch.diff(ids, prepend=ids[:, :1] - 1, dim=-1),  # transformers' packed-sequence check
            torch.diff(x, dim=0, prepend=x[:1], append=x[1:]),
            x[0].T,
            x.mT,
            torch.gather(ids, 1, ids[:, :3]),
            torch.gather(x, 2, ids.unsqueeze(-1).expand(2, 7, 2)),
            ids.gather(1, ids),
            x.sum() * 1,
            x.sum() * 0.5,
            2 + x.mean(),
            nn.functional.gelu(x.transpose(1, 2)),
            nn.functional.silu(x.permute(2, 0, 1)),
            self.relu(x.transpose(0, 2)),
            self.gelu(x[:, ::2]),
            self.depthwise(image.permute(0, 2, 1, 3)),
            self.scaled(x),
            self.flat(x),
            self.pad(image),
            self.normed(x.transpose(1, 2)),
            self.unfused(x.transpose(1, 2)),
        )


def test_more_glue_records_what_fake_records() -> None:
    assert_rules_record_what_fake_records(MoreGlue().eval(), SPEC)


def test_more_glue_runs_only_the_unfused_weight_norm_on_fake_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel.trace.fake_propagation import FakePropagation
    from costmodel.trace.node_cache import forget

    faked: list[str] = []
    compute, fake_args = FakePropagation._compute, FakePropagation._fake_args

    def computing(self: Any, n: Any, target: Any, args: Any, kwargs: Any, **options: Any) -> Any:
        self.computing = n.name
        return compute(self, n, target, args, kwargs, **options)

    def faking(self: Any, *args: Any) -> Any:
        faked.append(self.computing)
        return fake_args(self, *args)

    forget()
    monkeypatch.setattr(FakePropagation, "_compute", computing)
    monkeypatch.setattr(FakePropagation, "_fake_args", faking)
    trace_model(MoreGlue().eval(), SPEC)
    assert faked == ["unfused"]


class ActivationsOfLayout(nn.Module):
    """Every ruled activation, as module and as function, of a tensor stored in another dimension order
    (and sliced): the output is laid out as element-wise kernels lay it out."""

    def __init__(self, order: tuple[int, ...], sliced: bool) -> None:
        super().__init__()
        self.order, self.sliced = order, sliced
        self.modules_ = nn.ModuleList([nn.ReLU(), nn.ReLU6(), nn.GELU(), nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.Hardswish()])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = x.permute(*self.order)
        y = y[..., ::2] if self.sliced else y
        functions = (
            nn.functional.relu(y),
            nn.functional.gelu(y, approximate="tanh"),
            torch.sigmoid(y),
            nn.functional.hardsigmoid(y),
        )
        return (*(m(y) for m in self.modules_), *functions, y.exp(), y.neg())


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (0, 2, 3, 1), (3, 1, 0, 2), (1, 0, 3, 2)])
@pytest.mark.parametrize("sliced", [False, True])
def test_activations_of_any_layout_record_what_fake_records(order: tuple[int, ...], sliced: bool) -> None:
    assert_rules_record_what_fake_records(ActivationsOfLayout(order, sliced).eval(), (2, 3, 1, 5))


class OfAmbiguousLayout(nn.Module):
    """Element-wise ops, copies, casts and ``*_like`` of a tensor that is contiguous yet keeps channels-last
    strides on its size-1 dims (a permuted NHWC tensor with C = 1, or 1×1 spatial): torch lays the
    element-wise results out by those strides and the copies keep them."""

    def __init__(self, order: tuple[int, ...]) -> None:
        super().__init__()
        self.order, self.relu = order, nn.ReLU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = x.permute(*self.order)
        return (
            self.relu(y),
            torch.sigmoid(y),
            y.exp(),
            nn.functional.gelu(y),
            y.clamp(0, 1),
            2**y,
            y.double(),
            y.to(torch.float16),
            y.type_as(y.long()),
            y.clone(),
            y.masked_fill(y > 0, 0.0),
            torch.ones_like(y),
            torch.zeros_like(y, dtype=torch.int64),
        )


@pytest.mark.parametrize(
    ("shape", "order"),
    [((2, 5, 7, 1), (0, 3, 1, 2)), ((1, 5, 7, 1), (0, 3, 1, 2)), ((2, 1, 1, 8), (0, 3, 1, 2)), ((2, 3, 1, 1), (0, 2, 3, 1))],
)
def test_ops_of_a_contiguous_tensor_with_channels_last_strides_record_what_fake_records(
    shape: tuple[int, ...], order: tuple[int, ...]
) -> None:
    assert_rules_record_what_fake_records(OfAmbiguousLayout(order).eval(), shape)
