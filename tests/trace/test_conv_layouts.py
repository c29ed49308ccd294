"""Convolutions whose input or weight is not row-major: the output layout is the one torch's backend
choice gives, as FakeTensorMode works it out. A permuted NHWC tensor (ConvNeXt's and Segformer's
downsampling), a transposed sequence (SqueezeBERT's 1-D convolutions), a contiguous tensor with other
strides on its size-1 dimensions, and a model moved to channels-last are held to FakeTensorMode call for
call, and the common case runs no node on fake tensors."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from costmodel.trace.fx_trace import trace_model
from tests.trace.node_records import assert_rules_record_what_fake_records, count_fake_modes


class PermutedConv(nn.Module):
    """``conv(x.permute(order))`` then an element-wise op that reads the output's layout."""

    def __init__(self, conv: nn.Module, order: tuple[int, ...]) -> None:
        super().__init__()
        self.conv, self.order = conv, order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.permute(*self.order)) * 2


class FunctionalPermutedConv(nn.Module):
    """The same through ``F.conv2d``."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x.permute(0, 3, 1, 2), self.weight, None, 2, 1) + 1


CASES = [
    # (convolution, permutation applied to the input, the input's shape before it)
    (nn.Conv2d(96, 192, 2, stride=2), (0, 3, 1, 2), (1, 8, 8, 96)),  # NHWC → NCHW: channels-last strides
    (nn.Conv2d(1, 4, 3, padding=1), (0, 3, 1, 2), (1, 8, 8, 1)),  # contiguous, but channels-last to the kernel
    (nn.Conv2d(8, 8, 1), (0, 3, 1, 2), (2, 1, 1, 8)),  # 1×1 spatial: contiguous, channels-last strides
    (nn.Conv2d(8, 8, 3, padding=1, groups=8), (0, 3, 1, 2), (2, 5, 7, 8)),  # depthwise
    (nn.Conv2d(6, 4, 3, dilation=2), (0, 2, 1, 3), (1, 9, 6, 11)),  # neither layout
    (nn.Conv1d(8, 8, 3, padding=1), (0, 2, 1), (1, 16, 8)),  # a transposed sequence
    (nn.Conv1d(1, 2, 3), (0, 2, 1), (1, 128, 1)),
    (nn.Conv1d(768, 768, 1, groups=4), (0, 2, 1), (1, 128, 768)),
]


@pytest.mark.parametrize("channels_last_weights", [False, True])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_convolutions_of_other_layouts_record_what_fake_records(case: int, channels_last_weights: bool) -> None:
    conv, order, shape = CASES[case]
    model = PermutedConv(conv, order).eval()
    if channels_last_weights and conv.weight.dim() == 4:
        model = model.to(memory_format=torch.channels_last)  # weights channels-last, input row-major
    assert_rules_record_what_fake_records(model, shape)
    if channels_last_weights:  # and a row-major input
        row_major = PermutedConv(model.conv, tuple(range(len(shape)))).eval()
        assert_rules_record_what_fake_records(row_major, tuple(shape[d] for d in order))


def test_random_permuted_convolutions_record_what_fake_records() -> None:
    """Sizes, groups, kernels and strides drawn at random, and the order of the input's dimensions."""
    draw = random.Random(7)
    for _ in range(12):
        channels = draw.choice([1, 3, 8])
        groups = draw.choice([1, channels])
        conv = nn.Conv2d(
            channels, groups * draw.choice([1, 2]), draw.choice([1, 2, 3]), stride=draw.choice([1, 2]), padding=1, groups=groups
        )
        order = tuple(draw.sample(range(4), 4))
        shape = tuple(draw.choice([1, 2, 5]) if d != 1 else channels for d in range(4))
        before = tuple(shape[order.index(d)] for d in range(4))  # so that the permuted input has ``shape``
        assert_rules_record_what_fake_records(PermutedConv(conv, order).eval(), before)
    assert_rules_record_what_fake_records(FunctionalPermutedConv().eval(), (2, 9, 9, 4))


def test_a_downsampling_convolution_of_permuted_features_runs_no_node_on_fake_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    built = count_fake_modes(monkeypatch)
    traced = trace_model(PermutedConv(nn.Conv2d(96, 192, 2, stride=2), (0, 3, 1, 2)).eval(), (1, 56, 56, 96))
    assert traced.node_outcomes and not built
    out = traced.graph.find_nodes(op="call_module", target="conv")[0].meta["val"]
    assert tuple(out.stride()) == torch.empty(1, 192, 28, 28, memory_format=torch.channels_last).stride()
