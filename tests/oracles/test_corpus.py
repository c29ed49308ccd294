"""A corpus of models beyond plain convolutions, ours and Hugging Face ``transformers``' (built from
default configs, no weights): every one analysed, zero uncounted ops, contraction FLOPs equal to
``torch.utils.flop_counter`` / 2 exactly, the fx and aten walks agree, and nothing is touched."""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from costmodel import analyze
from costmodel.inputs import TensorSpec, materialise, normalise_inputs
from costmodel.report import Report
from tests.models import corpus as C

OWN: dict[str, tuple[Callable[[], nn.Module], Any]] = {
    "vit": (C.TinyViT, (2, 3, 32, 32)),
    "swin_window": (C.WindowAttention, (1, 10, 10, 16)),
    "efficientnet_se_droppath": (C.TinyEfficientNet, (1, 3, 32, 32)),
    "convnext_block": (C.ConvNeXtBlock, (1, 16, 14, 14)),
    "lstm_tokens": (C.LSTMTagger, [TensorSpec((2, 7), torch.int64)]),
    "recurrent_mix": (C.RecurrentMix, (2, 5, 12)),
    "two_inputs_kwargs": (
        C.TwoInputs,
        ((TensorSpec((1, 3, 8, 8)), TensorSpec((1, 3, 8, 8))), {"mask": TensorSpec((1, 8, 8, 8), torch.bool)}),
    ),
    "stateful": (C.Stateful, (4, 8)),
}

HF_CONFIGS = [
    "ResNetConfig",
    "ConvNextConfig",
    "MobileNetV2Config",
    "MobileViTConfig",
    "RegNetConfig",
    "EfficientNetConfig",
    "ViTConfig",
    "SwinConfig",
    "BitConfig",
    "PvtConfig",
    "Dinov2Config",
    "SegformerConfig",
]


def hf_model(config_name: str, native_size: bool = False) -> tuple[nn.Module, tuple[int, ...]]:
    transformers = pytest.importorskip("transformers")
    config = getattr(transformers, config_name)()
    # small images keep the suite fast; every config accepts its own image size scaled down
    size = getattr(config, "image_size", 224)
    size = size[0] if isinstance(size, (list, tuple)) else size
    if not native_size:
        size = 64 if config_name not in ("ViTConfig", "Dinov2Config", "SwinConfig", "PvtConfig") else size
    mapping = transformers.AutoModelForImageClassification._model_mapping
    cls = mapping[type(config)] if type(config) in mapping else transformers.AutoModel._model_mapping[type(config)]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(config).eval()
    return model, (1, getattr(config, "num_channels", 3), size, size)


def oracle_contraction_flops(model: nn.Module, inputs: Any) -> float:
    """torch.utils.flop_counter's total / 2 on one real forward, attention on the math path and
    recurrent layers without mkldnn so that every product runs as a matmul it counts."""
    spec = normalise_inputs(inputs)

    def make(s: TensorSpec) -> torch.Tensor:
        return torch.randn(s.shape) if (s.dtype or torch.float32).is_floating_point else torch.zeros(s.shape, dtype=s.dtype)

    args, kwargs = materialise(spec.args, make), materialise(spec.kwargs, make)
    counter = FlopCounterMode(display=False)
    sdpa = torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH)
    with counter, sdpa, torch.backends.mkldnn.flags(enabled=False), torch.enable_grad():
        model(*args, **kwargs)
    return counter.get_total_flops() / 2


def assert_rows_name_the_model(report: Report, model: nn.Module) -> None:
    """Rows are named by module path (joinable with ``named_modules``), unique, and every module tree
    (depth 1 to 4) adds up: each parent is exactly the sum of the rows shown directly beneath it."""
    paths = {name for name, _ in model.named_modules()}
    names = [r.name for r in report.layers]
    assert len(set(names)) == len(names)
    for row in report.layers:
        assert row.module is None or row.module in paths, row.module
        assert row.module is None or row.name.startswith(row.module), (row.name, row.module)
    for depth in range(1, 5):
        tree = report.grouped("module", depth)
        assert (tree[0].flops, tree[0].mac, tree[0].params) == (
            report.totals["flops"],
            report.totals["mac"],
            sum(r.params for r in report.layers),
        )
        for i, group in enumerate(tree):
            kids = []
            for later in tree[i + 1 :]:
                if later.level <= group.level:
                    break
                if later.level == group.level + 1:
                    kids.append(later)
            if kids:
                for key in ("flops", "mac", "params", "count"):
                    assert getattr(group, key) == sum(getattr(k, key) for k in kids), (depth, group.name, key)


def _check(model: nn.Module, inputs: Any) -> Report:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    attrs = dict(vars(model))
    report = analyze(model, inputs)
    aten = analyze(model, inputs, fallback=True)
    for k, v in model.state_dict().items():  # checked before the oracle's real forward
        assert torch.equal(v, state[k]), k
    assert set(vars(model)) == set(attrs) and not any(k.startswith("_tensor_constant") for k in dir(model))
    assert report.uncounted == [], report.uncounted
    assert aten.walk == "aten" and aten.uncounted == []
    assert (aten.totals, aten.contraction_flops) == (report.totals, report.contraction_flops)
    assert report.totals["flops"] >= report.contraction_flops > 0
    assert report.contraction_flops == oracle_contraction_flops(model, inputs)
    assert_rows_name_the_model(report, model)
    assert_rows_name_the_model(aten, model)
    # the oracle ran one real forward (Hugging Face models install hooks and flags on the first one):
    # the analysis after it is the analysis before it, and leaves the model as the forward left it
    state = {k: v.clone() for k, v in model.state_dict().items()}
    after = analyze(model, inputs)
    assert (after.totals, [r.name for r in after.layers]) == (report.totals, [r.name for r in report.layers])
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    return report


@pytest.mark.parametrize("name", sorted(OWN))
def test_own_corpus_model(name: str) -> None:
    build, inputs = OWN[name]
    _check(build().eval(), inputs)


@pytest.mark.parametrize("config_name", HF_CONFIGS)
def test_huggingface_model(config_name: str) -> None:
    model, shape = hf_model(config_name)
    report = _check(model, shape)
    assert report.walk == "fx" and not any("fx path failed" in note for note in report.notes)  # module rows


def test_nothing_of_the_model_or_process_is_touched() -> None:
    model = C.Stateful().train()
    ema, calls = model.ema.clone(), model.calls
    model.fc.register_forward_hook(lambda *a: pytest.fail("a user hook ran during analysis"))
    torch.manual_seed(123)
    random.seed(5)
    rng, py_rng = torch.get_rng_state(), random.getstate()
    threads, dtype, grad = torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled()
    for fallback in (None, True):
        report = analyze(model, (4, 8), fallback=fallback)
        assert report.uncounted == []
    assert torch.equal(model.ema, ema) and model.calls == calls and model.training and model.fc.training
    assert torch.equal(torch.get_rng_state(), rng) and random.getstate() == py_rng
    assert (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled()) == (threads, dtype, grad)
    assert not hasattr(model, "_tensor_constant0")
    # the dequantisation and the in-place EMA update are costed rows, not trace-time constants
    ops = {a["op"] for r in report.layers for a in r.aten}
    assert {"_to_copy", "mul"} <= ops


def test_attention_row_reports_fused_and_unfused_mac() -> None:
    b, h, length, e = 2, 3, 5, 4

    class Attn(nn.Module):
        def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return nn.functional.scaled_dot_product_attention(q, k, v)

    shape = (b, h, length, e)
    row = next(r for r in analyze(Attn(), [shape, (b, h, 7, e), (b, h, 7, 6)]).layers if r.mac)
    s, ev = 7, 6
    assert row.family == "attention" and row.flops == b * h * length * s * (e + ev)
    fused = b * h * (length * e + s * e + s * ev + length * ev)
    assert row.mac == fused and row.mac_unfused == fused + 4 * b * h * length * s


def test_pool_window_is_clipped_to_the_padded_input() -> None:
    row = next(r for r in analyze(C.BigAvgPool(), (1, 3, 19, 19)).layers if r.op == "AvgPool2d")
    # kernel 64, padding 32 on a 19-wide input: the padded input is 83 wide, so at most 64 taps per dim
    out = torch.nn.AvgPool2d(64, 64, 32, ceil_mode=True)(torch.zeros(1, 3, 19, 19))
    assert row.flops == out.numel() * 64 * 64
    small = next(r for r in analyze(nn.AvgPool2d(7, 1, 3), (1, 2, 4, 4)).layers)
    assert small.flops == 2 * 4 * 4 * 7 * 7 - 0 and nn.AvgPool2d(7, 1, 3)(torch.zeros(1, 2, 4, 4)).numel() == 32
    tiny = next(r for r in analyze(nn.AvgPool2d(9, 1, 4), (1, 1, 1, 1)).layers)
    assert tiny.flops == 1 * 9 * 9  # padded input is 9 wide: the whole kernel fits


class _WithFreeOps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.dim() == 4, "NCHW input")
        y = self.drop(self.conv(x))
        return y.flatten(1)


def test_free_ops_are_zero_rows_with_a_reason() -> None:
    for fallback in (None, True):
        report = analyze(_WithFreeOps(), (1, 3, 4, 4), fallback=fallback)
        free = [r for r in report.layers if r.flops == 0 and r.mac == 0]
        assert free and all(r.reason for r in free) and report.uncounted == []
    rows = {r.op: r for r in analyze(_WithFreeOps(), (1, 3, 4, 4)).layers}
    assert "identity" in (rows["Dropout"].reason or "") and "view" in (rows["flatten"].reason or "")
    assert "no tensor" in (rows["_assert"].reason or "")


def test_dtype_is_analysed_without_converting_the_model() -> None:
    model = C.ConvNeXtBlock()
    half = analyze(model, (1, 16, 8, 8), torch.float16, mac_unit="bytes")
    full = analyze(model, (1, 16, 8, 8), mac_unit="bytes")
    assert half.dtype == "float16" and all(p.dtype == torch.float32 for p in model.parameters())
    assert half.totals["flops"] == full.totals["flops"] and 2 * half.totals["mac"] == full.totals["mac"]


def test_inputs_by_keyword_and_dtype() -> None:
    inputs = ((TensorSpec((1, 3, 8, 8)),), {"extra": TensorSpec((1, 3, 8, 8)), "mask": TensorSpec((1, 8, 8, 8), torch.bool)})
    report = analyze(C.TwoInputs(), inputs)
    assert report.inputs == "0=1x3x8x8, extra=1x3x8x8, mask=1x8x8x8:bool"
    assert any(r.op == "masked_fill" for r in report.layers)
    without_mask = analyze(C.TwoInputs(), [(1, 3, 8, 8), (1, 3, 8, 8)])
    assert not any(r.op == "masked_fill" for r in without_mask.layers)
    with pytest.raises(Exception, match="positive integers"):
        analyze(C.TwoInputs(), (1, 3, 8.5, 8))


def test_register_a_rule_for_a_custom_op_and_a_module() -> None:
    from costmodel import OpCost, register, unregister
    from tests.models.custom import UpsampleNet

    assert analyze(UpsampleNet(), (1, 3, 4, 4)).uncounted
    register("costmodel_test::mystery", lambda call: OpCost(call.output.numel, call.io_elements()), family="elementwise")

    class Gate(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x)

    register(Gate, lambda call: OpCost(3 * call.output.numel, 2 * call.output.numel, kind="gate"))
    try:
        report = analyze(UpsampleNet(), (1, 3, 4, 4))
        assert report.uncounted == []
        row = next(r for r in report.layers if r.name == "mystery")
        assert (row.flops, row.mac) == (4 * 16, 2 * 4 * 16)
        model = nn.Sequential(nn.Conv2d(3, 4, 1), Gate())
        for fallback in (None, True):
            gate = [r for r in analyze(model, (1, 3, 4, 4), fallback=fallback).layers if r.family == "custom"]
            assert [(r.flops, r.mac) for r in gate] == [(3 * 64, 2 * 64)]
    finally:
        unregister("costmodel_test::mystery")
        unregister(Gate)
    assert analyze(UpsampleNet(), (1, 3, 4, 4)).uncounted


def test_audio_codec_with_a_recurrent_layer_and_a_constant_index() -> None:
    """transformers' WavTokenizer (default config, no weights): a convolutional encoder with an LSTM, a
    backbone conditioned by an embedding of a bandwidth index the forward makes as a tensor, an ISTFT
    head building its spectrum with ``torch.polar``. The fx walk takes it (module rows), nothing is
    uncounted, both walks agree and the contraction FLOPs are flop_counter's / 2 on a real forward."""
    transformers = pytest.importorskip("transformers")
    config = transformers.WavTokenizerConfig()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.AutoModel._model_mapping[type(config)](config).eval()
    report = _check(model, {"input_values": (1, 1, 4800)})
    assert report.walk == "fx"
