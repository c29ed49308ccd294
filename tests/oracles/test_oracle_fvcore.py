"""Our FLOPs against fvcore's, exactly: every zoo model, and random convolutions (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from costmodel import analyze
from tests.conftest import zoo_model, zoo_report
from tests.oracles.oracle import fvcore_by_operator, fvcore_conv_linear


def test_conv_and_linear_flops_equal_fvcore(zoo_name: str) -> None:
    ours = zoo_report(zoo_name).flops_of("conv", "linear")
    assert ours == fvcore_conv_linear(zoo_model(zoo_name), (1, 3, 224, 224))


def test_batch_norm_and_adaptive_pool_flops_equal_fvcore(zoo_name: str) -> None:
    report = zoo_report(zoo_name)
    theirs = fvcore_by_operator(zoo_model(zoo_name), (1, 3, 224, 224))
    assert sum(r.flops for r in report.layers if r.op == "BatchNorm2d") == theirs.get("batch_norm", 0)
    adaptive = sum(r.flops for r in report.layers if r.op in ("AdaptiveAvgPool2d", "adaptive_avg_pool2d"))
    assert adaptive == theirs.get("adaptive_avg_pool2d", 0)


def test_conv_flops_equal_fvcore_at_batch_8_and_odd_size() -> None:
    model = zoo_model("mobilenet_v2")
    shape = (8, 3, 97, 131)
    ours = analyze(model, shape).flops_of("conv", "linear")
    assert ours == fvcore_conv_linear(model, shape)


@st.composite
def conv_configs(draw: st.DrawFn) -> tuple[nn.Conv2d, tuple[int, int, int, int]]:
    groups = draw(st.sampled_from([1, 1, 2, 3, 4]))
    c_in = groups * draw(st.integers(1, 6))
    c_out = groups * draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    # the input must cover the dilated kernel
    h = draw(st.integers(dilation[0] * (kh - 1) + 1, 24))
    w = draw(st.integers(dilation[1] * (kw - 1) + 1, 24))
    batch = draw(st.integers(1, 3))
    conv = nn.Conv2d(c_in, c_out, (kh, kw), stride, padding, dilation, groups, bias=draw(st.booleans()))
    return conv, (batch, c_in, h, w)


@settings(max_examples=40, deadline=None)
@given(conv_configs())
def test_random_conv_flops_equal_fvcore(config: tuple[nn.Conv2d, tuple[int, int, int, int]]) -> None:
    conv, shape = config
    report = analyze(conv, shape)
    assert report.flops_of("conv") == fvcore_by_operator(conv, shape)["conv"]
