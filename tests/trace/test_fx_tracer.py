"""fx's tracer as costmodel drives it: the direct test for Tensor methods must answer exactly as
torch.overrides does, since it decides whether a traced call is recorded as a method or a function;
the lean node creation must build the graph plain fx builds."""

from __future__ import annotations

import types
from typing import Any

import pytest
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from costmodel import load_model
from costmodel.inputs import TensorSpec
from costmodel.trace.fx_tracer import ModelTracer, is_leaf, is_tensor_method
from tests.oracles.test_corpus import OWN

_NAMESPACES = (torch, F, torch.linalg, torch.special, torch.fft, torch.nn.init, torch._C._nn, torch._C._VariableFunctions)


def _candidates() -> list[object]:
    found: list[object] = []
    for name in dir(torch.Tensor):
        value = getattr(torch.Tensor, name, None)
        if callable(value):
            found.append(value)
        prop = torch.Tensor.__dict__.get(name) or torch._C.TensorBase.__dict__.get(name)
        getter = getattr(prop, "__get__", None)
        if getter is not None and not callable(prop):
            found.append(getter)
    for namespace in _NAMESPACES:
        for name in dir(namespace):
            value = getattr(namespace, name, None)
            if callable(value) and not isinstance(value, (type, types.ModuleType)):
                found.append(value)
    return found


def test_tensor_methods_are_told_apart_as_torch_overrides_tells_them() -> None:
    candidates = _candidates()
    assert len(candidates) > 2000
    disagree = [c for c in candidates if is_tensor_method(c) != torch.overrides.is_tensor_method_or_property(c)]
    assert not disagree, disagree[:10]
    # both kinds occur: methods, property getters and plain functions
    assert is_tensor_method(torch.Tensor.view) and is_tensor_method(torch.Tensor.shape.__get__)
    assert not is_tensor_method(torch.flatten) and not is_tensor_method(F.relu)


class _FxReference(fx.Tracer):
    """Plain torch.fx with costmodel's leaves: every node made by fx's own ``create_node``/``call_module``."""

    proxy_buffer_attributes = True

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)


def _described(graph: fx.Graph) -> list[tuple[Any, ...]]:
    """Every node as fx defines it: name, op, target, arguments (nodes by name), module stack."""

    def arg(a: Any) -> Any:
        return fx.node.map_arg(a, lambda n: f"%{n.name}")

    return [
        (n.name, n.op, n.target, arg(n.args), arg(dict(n.kwargs)), n.meta.get("nn_module_stack"), n.type) for n in graph.nodes
    ]


class _Reuse(nn.Module):
    """A layer called twice (fx keys its second call ``path@1``), nested containers, keyword arguments,
    a functional call with a dict argument, a buffer read, and a Tensor method chain."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.blocks = nn.Sequential(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU()), nn.Identity())
        self.register_buffer("scale", torch.ones(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.blocks(x))
        y = self.conv(input=y) * self.scale
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        return y.flatten(1).softmax(dim=-1).sum(dim=1, keepdim=True)


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "shufflenet_v1_g3", "mobilenet_v2", "resnet18", "reuse", *sorted(OWN)])
def test_model_tracer_builds_the_graph_plain_fx_builds(name: str) -> None:
    """ModelTracer's lean node creation and module calls give node for node what fx's own give:
    names, ops, targets, arguments, the module stack on each node (fx's keys, ``@n`` repeats included)."""
    model = _Reuse() if name == "reuse" else OWN[name][0]() if name in OWN else load_model(name)
    model.eval()
    ours = _described(ModelTracer(autowrap_math=False).trace(model))
    reference = _described(_FxReference().trace(model))
    assert ours == reference
    stacks = [s for *_, s, _ in ours if s]
    assert stacks, "the module stack is recorded"
    if name == "reuse":
        assert any("conv@1" in s for s in stacks)  # the repeat call's key, as fx spells it


class _KeyValueCache:
    """A cache object of the kind Hugging Face models return (``DynamicCache``): plain Python holding
    the keys and values each layer computed; fx cannot put it in a graph."""

    def __init__(self) -> None:
        self.layers: list[dict[str, torch.Tensor]] = []

    def update(self, key: torch.Tensor, value: torch.Tensor) -> None:
        self.layers.append({"keys": key, "values": value})


class _ReturnsCache(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.k, self.v, self.out = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        cache = _KeyValueCache()
        k, v = self.k(x), self.v(x)
        cache.update(k, v.transpose(1, 2))
        scores = torch.softmax(x @ k.transpose(1, 2), dim=-1)
        return {"hidden": self.out(scores @ v), "past_key_values": cache}


def test_a_returned_cache_object_keeps_the_fx_walk_and_costs_what_the_aten_walk_costs() -> None:
    from costmodel import analyze

    traced = analyze(_ReturnsCache().eval(), (2, 5, 8))
    walked = analyze(_ReturnsCache().eval(), (2, 5, 8), fallback=True)
    assert traced.walk == "fx" and walked.walk == "aten"
    assert not traced.notes and not traced.uncounted
    for metric in ("flops", "mac", "params"):
        assert sum(getattr(r, metric) for r in traced.layers) == sum(getattr(r, metric) for r in walked.layers)
    assert any(r.op == "transpose" and r.flops == 0 for r in traced.layers)  # the cached value's view is traced


def test_an_object_passed_inside_the_forward_still_fails_where_fx_cannot_record_it() -> None:
    class Passes(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.add(_KeyValueCache())  # a method call records its arguments: this one cannot be

    with pytest.raises(NotImplementedError):
        ModelTracer(autowrap_math=False).trace(Passes())


class _Unregistered(nn.Module):
    """A layer held only in a plain list (no module path: its forward traced inline), a weight-normed layer (its
    weight a property reading ``weight_g``/``weight_v`` through ``nn.Module.__getattr__``), a shared layer."""

    def __init__(self) -> None:
        super().__init__()
        self.side = [nn.GELU()]
        self.normed = nn.utils.parametrizations.weight_norm(nn.Linear(6, 6))
        self.shared = nn.Linear(6, 6)
        self.again = self.shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.again(self.shared(self.normed(self.side[0](x)))) + self.normed.weight.sum()


class _Patching(ModelTracer):
    """ModelTracer tracing as fx does: ``nn.Module.__call__``/``__getattr__`` patched for the trace."""

    routes_per_instance = False


def test_routed_tracing_matches_patched_tracing_on_unregistered_shared_and_parametrized_layers() -> None:
    model = _Unregistered().eval()
    ours = _described(ModelTracer(autowrap_math=False).trace(model))
    assert ours == _described(_Patching(autowrap_math=False).trace(model))
    assert any(op == "call_module" and target == "normed" for _, op, target, *_ in ours)


def _hf_models() -> dict[str, Any]:
    transformers = pytest.importorskip("transformers")
    tokens = TensorSpec((2, 12), torch.int64)
    small = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
    return {
        "bert": (transformers.BertModel(transformers.BertConfig(**small)), {"input_ids": tokens}),
        "gpt2": (transformers.GPT2Model(transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2)), {"input_ids": tokens}),
        "wav2vec2": (
            transformers.Wav2Vec2Model(
                transformers.Wav2Vec2Config(**small, conv_dim=(16, 16), conv_kernel=(10, 3), conv_stride=(5, 2))
            ),
            {"input_values": (2, 1600)},
        ),
    }


@pytest.mark.parametrize("name", ["bert", "gpt2", "wav2vec2"])
def test_routed_tracing_costs_library_models_as_fx_patching_does(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hugging Face models (traced with shapes answered, custom attention, embeddings, buffers, a
    weight-normed positional conv): every row the same whether calls and reads are routed per instance
    or through fx's patched ``nn.Module``."""
    from costmodel import analyze

    model, inputs = _hf_models()[name]
    model.eval()
    routed = analyze(model, inputs)
    monkeypatch.setattr(ModelTracer, "routes_per_instance", False)
    patched = analyze(model, inputs)

    def rows(report: Any) -> list[tuple[Any, ...]]:
        return [(r.name, r.op, r.flops, r.mac, r.params) for r in report.layers]

    assert routed.walk == patched.walk == "fx"
    assert rows(routed) == rows(patched) and len(rows(routed)) > 20
    assert routed.uncounted == patched.uncounted


def test_tracing_leaves_nn_module_and_the_copy_as_they_were() -> None:
    """No class is patched while a trace runs (the forward sees ``nn.Module``'s own ``__call__`` and
    ``__getattr__``); afterwards each module's call slot and tensor tables are plain again, holding
    what they held, and the module runs eagerly."""
    seen: list[tuple[Any, Any]] = []

    class Looks(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.register_buffer("offset", torch.zeros(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((nn.Module.__dict__["__call__"], nn.Module.__dict__["__getattr__"]))
            return self.fc(x) + self.offset

    model = Looks().eval()
    call, getattr_ = nn.Module.__dict__["__call__"], nn.Module.__dict__["__getattr__"]
    graph = ModelTracer(autowrap_math=False).trace(model)
    assert seen == [(call, getattr_)]
    assert [n.op for n in graph.nodes].count("get_attr") == 1  # the buffer; the linear is a leaf call
    for module in model.modules():
        assert "_compiled_call_impl" not in module.__dict__
        assert type(module._parameters) is dict and type(module._buffers) is dict
    assert set(model.fc._parameters) == {"weight", "bias"} and set(model._buffers) == {"offset"}
    x = torch.randn(2, 4)
    assert torch.equal(model(x), model.fc(x) + model.offset)
