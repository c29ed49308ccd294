"""Analysis leaves the user's model and the process as they were, whatever the forward writes: Python
containers and attributes, buffers created in forward, modules reached outside the module tree, hooks,
batch-norm statistics in train mode, RNGs (torch, numpy, Python) and environment variables."""

from __future__ import annotations

import os
import random
import types

import numpy as np
import pytest
import torch
from torch import nn

from costmodel.analyze import analyze
from tests.fresh_process import fresh_process_output


def _describe(value: object) -> object:
    """A comparable picture of a Python value: modules by identity, tensors by value, containers by content."""
    if isinstance(value, nn.Module):
        return ("module", id(value))
    if isinstance(value, torch.Tensor):
        return ("tensor", value.detach().tolist())
    if isinstance(value, dict):
        return {repr(k): _describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if isinstance(value, types.MethodType):
        return ("method", id(value.__self__), value.__func__.__name__)
    return repr(value)


def _state(model: nn.Module) -> object:
    """Everything the user could observe on a model: tensors (values), Python attributes, hooks, flags."""
    tensors = {k: v.detach().tolist() for k, v in model.state_dict(keep_vars=True).items()}
    attributes = {path: _describe({k: v for k, v in vars(m).items() if k != "_modules"}) for path, m in model.named_modules()}
    return tensors, attributes


class Caching(nn.Module):
    """The rotary-embedding pattern: a dict cache, a list of calls, an attribute and a buffer made in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.cache: dict[tuple[int, ...], torch.Tensor] = {}
        self.history: list[tuple[int, ...]] = []
        self.settings = {"nested": {"calls": 0}}
        self.counts = [0, 1, 2]  # a table of numbers (copied without a call per item)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.history.append(tuple(x.shape))
        self.counts[0] += 1
        self.settings["nested"]["calls"] += 1
        self.last_shape = tuple(x.shape)
        if "made" not in self._buffers:
            self.register_buffer("made", torch.zeros(1), persistent=False)
        key = tuple(x.shape)
        if key not in self.cache:
            self.cache[key] = torch.ones(x.shape[-1])
        return self.conv(x) * self.cache[key]


class HeldInAList(nn.Module):
    """Modules reached through a plain list (not registered) and through a stored bound method."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.outside = [nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1)]
        self.norm_fn = self.bn.forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm_fn(x)
        return self.outside[1](self.outside[0](x))


class DrawsRandomness(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = float(np.random.rand()) + random.random()
        return self.linear(x) * noise + torch.rand(1)


@pytest.mark.parametrize("train", [False, True])
def test_python_state_written_in_forward_stays_in_the_copy(train: bool) -> None:
    model = Caching().train(train)
    before = _state(model)
    report = analyze(model, (1, 3, 8, 8))
    assert report.totals["flops"] > 0
    assert _state(model) == before
    assert model.cache == {} and model.history == [] and model.settings == {"nested": {"calls": 0}}
    assert model.counts == [0, 1, 2]
    assert not hasattr(model, "last_shape") and "made" not in model._buffers


@pytest.mark.parametrize("train", [False, True])
def test_modules_outside_the_tree_are_copied_too(train: bool) -> None:
    model = HeldInAList().train(train)
    fired: list[str] = []
    for i, m in enumerate([model.bn, *model.outside]):
        m.register_forward_hook(lambda *_, i=i: fired.append(str(i)))
    before = _state(model)
    outside_before = [(m.training, {k: v.clone() for k, v in m.state_dict().items()}) for m in model.outside]
    report = analyze(model, (2, 3, 8, 8))
    assert fired == []  # no hook of the user's ran during analysis
    assert _state(model) == before
    for (training, tensors), m in zip(outside_before, model.outside):
        assert m.training == training
        assert all(torch.equal(tensors[k], v) for k, v in m.state_dict().items())
    # the conv reached only through the list is costed: 2·8·8 outputs × 4 channels × 3 inputs
    assert report.totals["flops"] >= 2 * 8 * 8 * 4 * 3


def test_rngs_and_environment_are_left_alone() -> None:
    model = DrawsRandomness()
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    expected = (torch.rand(1).item(), float(np.random.rand()), random.random())
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    environment = dict(os.environ)
    analyze(model, (2, 4))
    assert (torch.rand(1).item(), float(np.random.rand()), random.random()) == expected
    assert dict(os.environ) == environment


class EditsEnvironment(nn.Module):
    """A forward that sets, changes and removes environment variables (as a library's first use can)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        os.environ["COSTMODEL_TEST_ADDED"] = "1"
        os.environ["COSTMODEL_TEST_CHANGED"] = "after"
        os.environ.pop("COSTMODEL_TEST_REMOVED", None)
        return x * 2


def test_environment_edits_of_a_forward_are_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTMODEL_TEST_CHANGED", "before")
    monkeypatch.setenv("COSTMODEL_TEST_REMOVED", "kept")
    monkeypatch.delenv("COSTMODEL_TEST_ADDED", raising=False)
    environment = dict(os.environ)
    analyze(EditsEnvironment(), (2, 4))
    assert dict(os.environ) == environment
    # the C-level environment a child process inherits follows os.environ
    names = ("COSTMODEL_TEST_ADDED", "COSTMODEL_TEST_CHANGED", "COSTMODEL_TEST_REMOVED")
    shown = fresh_process_output(f"import os; print(*(os.environ.get(name) for name in {names}))")
    assert shown == "None before kept"


def test_analysis_imports_no_numpy_random_generator() -> None:
    """numpy imports numpy.random lazily: an analysis neither imports it nor touches a state never made."""
    code = (
        "import sys, costmodel\n"
        "costmodel.analyze(costmodel.load_model('shufflenet_v2_x1_0'), (1, 3, 32, 32))\n"
        "print('numpy.random' in sys.modules)"
    )
    assert fresh_process_output(code) == "False"


def test_a_hugging_face_model_analyses_the_same_after_a_real_forward() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[16, 32],
        num_attention_heads=[1, 2],
        decoder_hidden_size=32,
        num_labels=3,
    )
    model = transformers.SegformerForSemanticSegmentation(config).eval()
    fresh = analyze(model, (1, 3, 64, 64))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    before = _state(model)
    again = analyze(model, (1, 3, 64, 64))
    assert _state(model) == before
    assert again.totals == fresh.totals
    assert [r.name for r in again.layers] == [r.name for r in fresh.layers]


class CountsCalls(nn.Module):
    """A forward that updates a buffer in place and draws from the global RNGs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x) * float(np.random.rand()) * torch.tensor([2.0])  # fx keeps the tensor as a constant


def test_bench_times_a_copy_and_leaves_model_and_rngs_alone() -> None:
    from costmodel.runtime.bench import bench

    model = CountsCalls()
    before = _state(model)
    torch.manual_seed(3)
    np.random.seed(3)
    expected = (torch.rand(1).item(), float(np.random.rand()))
    torch.manual_seed(3)
    np.random.seed(3)
    result = bench(model, (1, 3, 8, 8), repeats=2, warmup=1)
    assert {r.name for r in result.rows} >= {"conv"}
    assert (torch.rand(1).item(), float(np.random.rand())) == expected
    assert _state(model) == before and float(model.calls) == 0.0


def test_a_compiled_model_in_train_mode_is_costed_as_the_plain_model_and_left_alone() -> None:
    plain = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    expected = analyze(plain.eval(), (2, 3, 16, 16)).totals
    compiled = torch.compile(plain)
    plain.train()
    before = _state(plain)
    assert analyze(compiled, (2, 3, 16, 16)).totals == expected
    assert _state(plain) == before and plain.training  # running statistics and flags untouched


def test_a_layer_compiled_in_place_is_costed_as_the_plain_layer_and_keeps_its_slot() -> None:
    """``module.compile()`` sets the layer's call slot, the one the trace routes through: its rows and costs
    are the plain layer's, the memo still replays it, and the user's slot is the same object afterwards."""
    from costmodel.trace.fx_trace import trace_model

    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)).eval()
    expected = analyze(model, (2, 8))
    model[0].compile()
    slot = model[0].__dict__["_compiled_call_impl"]
    report = analyze(model, (2, 8))
    assert report.walk == "fx" and [r.name for r in report.layers] == ["0", "1", "2"]
    assert report.totals == expected.totals
    first, second = trace_model(model, (2, 8)), trace_model(model, (2, 8))
    assert first.node_outcomes["_0"] is second.node_outcomes["_0"]
    assert model[0].__dict__["_compiled_call_impl"] is slot
