"""Models whose Python control flow reads shapes (as Hugging Face models write it) take the fx walk with
shapes answered concretely: module rows, every op costed, the same totals as the aten walk, contraction
FLOPs equal to FlopCounterMode's on a real forward, each node's record equal to a run without shape
rules; a branch on tensor values still falls back to the aten walk, naming the line."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel import analyze
from costmodel.errors import TraceFailure
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.fx_tracer import symbolic_trace
from tests.trace.node_records import node_records


class ShapeBranches(nn.Module):
    """Checks and padding decided from sizes, a causal mask built by factories, an in-place write."""

    def __init__(self) -> None:
        super().__init__()
        self.channels, self.patch = 3, 4
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError("channel dimension does not match the configuration")
        h, w = int(x.shape[-2]), int(x.size(-1))
        pad_h = math.ceil(h / self.patch) * self.patch - h
        if pad_h or w % self.patch:
            x = F.pad(x, (0, (-w) % self.patch, 0, pad_h))
        tokens = self.conv(x).flatten(2).transpose(1, 2)
        n = len(tokens[0])
        mask = torch.ones(n, n, dtype=torch.bool).tril()
        scores = (tokens @ tokens.transpose(1, 2)).masked_fill(~mask, float("-inf")).softmax(-1)
        out = scores @ self.proj(tokens)
        out[:, 0] = 0
        return out.mean(dim=1) if x.dim() == 4 and out.numel() > 0 else out


def keyword_passing(forward: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator as transformers writes them: ``*args, **kwargs`` through ``functools.wraps``."""

    @functools.wraps(forward)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("return_dict", None)
        return forward(self, *args, **kwargs)

    return wrapper


class KeywordsAndChunks(nn.Module):
    """Inputs through ``**kwargs``, a tuple result iterated, a module made inside the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    @keyword_passing
    def forward(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        gate = kwargs.get("gate")
        y = self.fc(x)
        halves = [part * 2 for part in y.chunk(2, dim=-1)]
        y = torch.cat(halves, dim=-1)
        if gate is not None and gate.dtype == torch.float32:
            y = y * gate.sigmoid()
        return nn.GELU()(y) + torch.arange(y.shape[-1], dtype=y.dtype)


class FixedTable(nn.Module):
    """A table held as a plain tensor attribute (no parameter, no buffer), cut and copied in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.randn(1, 16, 8)
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.table.shape[1]:
            raise ValueError("sequence longer than the table")
        return self.fc(x) + self.table[:, : x.shape[1]].detach().to(dtype=x.dtype, copy=True)


class PaddingFromBuffers(nn.Module):
    """Encodec's convolution: stride and kernel size held as one-element buffers, the padding computed
    from them and the input length in tensor arithmetic, then read as Python numbers (``max``, a branch,
    F.pad widths, a slice bound, ``float``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 5, stride=2)
        self.register_buffer("stride", torch.tensor(2), persistent=False)
        self.register_buffer("kernel_size", torch.tensor(5), persistent=False)
        self.register_buffer("padding_total", torch.tensor(3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1]
        frames = torch.ceil((length - self.kernel_size + self.padding_total) / self.stride + 1).to(torch.int64) - 1
        extra = frames * self.stride + self.kernel_size - self.padding_total - length
        right = self.padding_total // 2
        left = self.padding_total - right
        if max(left, right + extra) > 0:
            x = F.pad(x, (left, right + extra))
        y = self.conv(x)
        return y[..., : y.shape[-1] - extra] * float(self.stride)


CASES: dict[str, tuple[Callable[[], nn.Module], Any]] = {
    "padding_from_buffers": (PaddingFromBuffers, (2, 4, 23)),
    "fixed_table": (FixedTable, (2, 12, 8)),
    "shape_branches": (ShapeBranches, (2, 3, 10, 9)),
    "keywords_and_chunks": (KeywordsAndChunks, (((3, 6),), {"gate": (3, 6)})),
}


def _real_inputs(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(inputs, tuple) and all(isinstance(s, int) for s in inputs):
        return (torch.randn(inputs),), {}
    args, kwargs = inputs
    return tuple(torch.randn(s) for s in args), {k: torch.randn(s) for k, s in kwargs.items()}


def _contraction_flops(model: nn.Module, inputs: Any) -> float:
    args, kwargs = _real_inputs(inputs)
    counter = FlopCounterMode(display=False)
    with counter:
        model(*args, **kwargs)
    return counter.get_total_flops() / 2


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_control_flow_takes_the_fx_walk_and_counts_what_a_forward_runs(name: str) -> None:
    build, inputs = CASES[name]
    model = build().eval()
    with pytest.raises(TraceFailure):  # plain fx cannot: the case needs concrete shapes
        symbolic_trace(build(), name, {})
    state = {k: v.clone() for k, v in model.state_dict().items()}
    report = analyze(model, inputs)
    aten = analyze(model, inputs, fallback=True)
    assert report.walk == "fx" and not report.notes and report.uncounted == []
    assert aten.walk == "aten" and aten.totals == report.totals
    assert report.contraction_flops == _contraction_flops(model, inputs) > 0
    paths = {p for p, _ in model.named_modules()}
    assert {r.module for r in report.layers if r.op in ("Conv2d", "Linear")} <= paths
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not any(k.startswith("_tensor_constant") for k in dir(model))


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_node_records_what_a_run_without_shape_rules_records(name: str) -> None:
    build, inputs = CASES[name]
    model = build().eval()
    assert node_records(trace_model(model, inputs)) == node_records(trace_model(model, inputs, shortcuts=False))


def test_factories_and_in_place_writes_are_costed_rows() -> None:
    report = analyze(ShapeBranches().eval(), (1, 3, 8, 8))
    ops = {a["op"] for r in report.layers for a in r.aten}
    assert {"ones", "tril", "masked_fill", "copy_"} <= ops or {"ones", "tril", "masked_fill", "fill_"} <= ops, ops


def test_work_on_a_tensor_the_model_holds_is_costed() -> None:
    model = FixedTable()
    table = model.table.clone()
    report = analyze(model, (2, 12, 8))
    copies = [a for r in report.layers for a in r.aten if a["op"] == "_to_copy"]
    assert copies and report.totals == analyze(model, (2, 12, 8), fallback=True).totals
    assert torch.equal(model.table, table)


def test_a_branch_on_tensor_values_still_takes_the_aten_walk() -> None:
    class ValueBranch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] == 4 and (x > 0).any():
                return self.fc(x)
            return x

    report = analyze(ValueBranch(), (2, 4))
    assert report.walk == "aten"
    assert "data-dependent" in report.notes[0] and "(x > 0).any()" in report.notes[0]


class AsksForQuantisation(nn.Module):
    """RWKV's check whether a weight is quantised: ``hasattr`` on a tensor is False in eager, while a
    plain fx proxy answers True and records the attribute read."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self.fc.weight, "SCB"):
            return self.fc(x) * self.fc.weight.SCB
        return self.fc(x).relu()


def test_an_attribute_a_tensor_lacks_is_answered_as_eager_answers_it() -> None:
    model = AsksForQuantisation().eval()
    report = analyze(model, (2, 4))
    assert report.walk == "fx" and not report.notes and report.uncounted == []
    assert [r.op for r in report.layers] == ["Linear", "relu"]  # the branch eager takes
    assert report.totals == analyze(model, (2, 4), fallback=True).totals


def test_buffer_values_decide_the_padding_as_in_eager() -> None:
    model = PaddingFromBuffers().eval()
    x = torch.randn(2, 4, 23)
    report = analyze(model, (2, 4, 23))
    conv = next(r for r in report.layers if r.op == "Conv1d")
    padded = F.pad(x, (2, 1 + 1))  # as eager pads: 2 left, 1 + 1 right (the last frame filled): 27 samples
    assert conv.input_shapes == [list(padded.shape)] and conv.output_shape == list(model.conv(padded).shape)
    assert report.walk == "fx" and not report.notes
    assert torch.equal(model.stride, torch.tensor(2))  # the user's buffer, untouched


def test_an_attribute_the_users_tensor_carries_is_seen_by_both_walks() -> None:
    class Flagged(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.fc.weight.quantised = True  # a plain flag on the user's parameter

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if hasattr(self.fc.weight, "quantised") and x.shape[0] > 0:
                return self.fc(x) * 2
            return self.fc(x)

    for fallback in (False, True):
        report = analyze(Flagged().eval(), (2, 4), fallback=fallback)
        assert [r.op for r in report.layers] == ["Linear", "mul"], fallback  # the branch eager takes


def test_a_wrong_input_is_named_as_the_model_says_it() -> None:
    with pytest.raises(Exception, match="channel dimension does not match"):
        analyze(ShapeBranches(), (1, 4, 8, 8), fallback=False)


@pytest.mark.parametrize(
    "config_name, options, inputs",
    [
        ("BertConfig", {"num_hidden_layers": 2}, {"input_ids": ((1, 16), torch.int64)}),
        ("GPT2Config", {"n_layer": 2, "use_cache": False}, {"input_ids": ((1, 16), torch.int64)}),
        ("ResNetConfig", {}, (1, 3, 64, 64)),
        ("SwinConfig", {"depths": [2, 2], "num_heads": [2, 4], "embed_dim": 32}, (1, 3, 224, 224)),
        # returns a key/value cache object (use_cache by default); asks hasattr(weight, "SCB")
        ("BartConfig", {"encoder_layers": 1, "decoder_layers": 1, "d_model": 32}, {"input_ids": ((1, 16), torch.int64)}),
        (
            "RwkvConfig",
            {"num_hidden_layers": 2, "hidden_size": 32, "attention_hidden_size": 32},
            {"input_ids": ((1, 8), torch.int64)},
        ),
    ],
)
def test_hugging_face_models_take_the_fx_walk_with_module_rows(config_name: str, options: dict[str, Any], inputs: Any) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(getattr(transformers, config_name)(**options)).eval()
    report = analyze(model, inputs)
    aten = analyze(model, inputs, fallback=True)
    assert report.walk == "fx" and report.uncounted == [] and not any("fx path failed" in n for n in report.notes)
    assert report.totals == aten.totals
    paths = {p for p, _ in model.named_modules()}
    leaves = [r for r in report.layers if r.op in ("Linear", "Conv2d", "Embedding", "LayerNorm")]
    assert leaves and all(r.module in paths and r.name == r.module or r.name.startswith(r.module) for r in leaves)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_graph_runs_for_real_node_by_node(name: str) -> None:
    from costmodel.runtime.measure import measure

    build, inputs = CASES[name]
    traced = trace_model(build().eval(), inputs)
    timed = measure(traced, repeats=2, warmup=1, rounds=1)
    assert set(timed.nodes) == {n.name for n in traced.call_nodes()}
    assert all(t.repeats == 2 for t in timed.nodes.values())


def test_the_aten_walk_reads_buffer_values_on_fake_tensors() -> None:
    from costmodel.trace.aten_walk import aten_walk

    walk = aten_walk(PaddingFromBuffers().eval(), (2, 4, 23))
    assert not walk.real  # the padding arithmetic ran on the buffers' values, carried as fake constants
    assert any(call.op == "aten::convolution" and call.inputs[0].shape == (2, 4, 27) for call in walk.calls)


def test_a_factory_sized_by_a_buffer_value_is_never_allocated(monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel.trace.fake_propagation import FakePropagation

    class Table(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("n", torch.tensor(3_000_000_000), persistent=False)  # 24 GB of int64 if real
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(self.n)
            return self.fc(x) + positions[: x.shape[-1]] * (self.n > 0)

    ran_for_real: list[str] = []
    computed = FakePropagation._computed_on_values
    monkeypatch.setattr(
        FakePropagation, "_computed_on_values", lambda self, n, *a: ran_for_real.append(n.name) or computed(self, n, *a)
    )
    report = analyze(Table().eval(), (3, 4))
    assert report.walk == "fx" and not report.notes
    assert ran_for_real == ["gt"]  # the comparison ran on the value; the arange ran on fake tensors
    assert any(a["op"] == "arange" for r in report.layers for a in r.aten)


class CompileHints(nn.Module):
    """A forward that annotates tensors for torch.compile (transformers' caches mark their state tensors
    static), with a question about a shape."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("state", torch.zeros(1, 8))
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch._dynamo

        torch._dynamo.mark_static_address(self.state)
        torch._dynamo.maybe_mark_dynamic(x, 0)
        if x.shape[0] > 1:
            x = x * 2
        return self.proj(x) + self.state


def test_compile_hints_in_a_forward_are_traced_past() -> None:
    """torch._dynamo's annotations take real tensors only: on a traced value they pass it by (no op runs),
    so the fx walk takes the model; torch._dynamo's own functions are back in place after the analysis."""
    import torch._dynamo

    originals = {name: getattr(torch._dynamo, name) for name in ("mark_static_address", "maybe_mark_dynamic")}
    report = analyze(CompileHints(), (4, 8))
    assert report.walk == "fx" and report.uncounted == []
    assert report.totals == analyze(CompileHints(), (4, 8), fallback=True).totals
    assert report.contraction_flops == 4 * 8 * 8
    assert {name: getattr(torch._dynamo, name) for name in originals} == originals


class RepeatedBlocks(nn.Module):
    """Three identical blocks behind a shape question (``int(x.shape[1])``): fx alone cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)[:, : int(x.shape[1])]
        return x


def test_identical_layers_share_one_memo_outcome_in_the_shaped_trace() -> None:
    """The shaped trace runs each layer while its module is routed (a call slot of its own, per module and
    trace): that slot is not the layer's behaviour, so equal layers replay one outcome, within a trace and
    in the next one."""
    model = RepeatedBlocks().eval()
    with pytest.raises(TraceFailure):
        symbolic_trace(model, "repeated blocks", {})
    first, second = trace_model(model, (2, 8)), trace_model(model, (2, 8))
    outcomes = [traced.node_outcomes[f"blocks_{i}_0"] for traced in (first, second) for i in range(3)]
    assert all(outcome is outcomes[0] for outcome in outcomes)
    relus = [traced.node_outcomes[f"blocks_{i}_1"] for traced in (first, second) for i in range(3)]
    assert all(outcome is relus[0] for outcome in relus)
