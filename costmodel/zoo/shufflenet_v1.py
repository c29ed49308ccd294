"""ShuffleNet (v1) at 1.0x, per Zhang et al., CVPR 2018, Table 1 (group counts 1, 2, 3, 4, 8).

Unit (paper Fig. 2): 1x1 group conv (bottleneck = output/4) + BN + ReLU, channel shuffle,
3x3 depthwise conv (stride) + BN, 1x1 group conv + BN; stride 1 adds the identity, stride 2
concatenates a 3x3 stride-2 average pool of the input; ReLU after the add or concat. As the paper
says, the first pointwise layer of Stage 2 is not grouped (its 24 input channels are too few).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from costmodel.zoo.shufflenet_v2 import channel_shuffle

# Table 1: output channels of Stage 2 per group count; Stages 3 and 4 double them.
STAGE2_CHANNELS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
# Table 1: the complexity the paper states for each group count, in MFLOPs (multiply-adds).
PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}


def stage2_channels(groups: int, width: float = 1.0) -> int:
    """Stage 2's output channels for ``groups`` at ``width`` × (the paper's "ShuffleNet s×" scales every
    layer's filters by s): Table 1's number at 1×, otherwise rounded to a multiple of 4·g, the least
    that keeps the bottleneck (a quarter) divisible by the groups."""
    if not 0 < width <= 8:
        raise ValueError(f"the width multiplier must lie in (0, 8], got {width}")
    base = STAGE2_CHANNELS[groups]
    if width == 1.0:
        return base
    step = 4 * groups
    return max(step, step * round(base * width / step))


class ShuffleUnit(nn.Module):
    """One ShuffleNet v1 unit (stride 1: residual add; stride 2: avg-pool shortcut, concat)."""

    def __init__(self, inp: int, oup: int, groups: int, stride: int, group_first: bool) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        self.groups = groups
        mid = oup // 4
        out_main = oup - inp if stride == 2 else oup
        first_groups = groups if group_first else 1
        self.gconv1 = nn.Conv2d(inp, mid, 1, bias=False, groups=first_groups)
        self.bn1 = nn.BatchNorm2d(mid)
        self.relu1 = nn.ReLU(inplace=True)
        self.dwconv = nn.Conv2d(mid, mid, 3, stride, 1, bias=False, groups=mid)
        self.bn2 = nn.BatchNorm2d(mid)
        self.gconv2 = nn.Conv2d(mid, out_main, 1, bias=False, groups=groups)
        self.bn3 = nn.BatchNorm2d(out_main)
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu1(self.bn1(self.gconv1(x)))
        if self.groups > 1:
            out = channel_shuffle(out, self.groups)
        out = self.bn2(self.dwconv(out))
        out = self.bn3(self.gconv2(out))
        if self.stride == 2:
            return self.relu(torch.cat((self.shortcut(x), out), dim=1))
        return self.relu(out + x)


class ShuffleNetV1(nn.Module):
    """ShuffleNet v1 1.0x for 224x224 ImageNet: conv1, max pool, Stages 2-4 (4, 8, 4 units), GAP, FC."""

    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(
        self, groups: int, num_classes: int = 1000, width: float = 1.0, depth: tuple[int, ...] | list[int] = (4, 8, 4)
    ) -> None:
        super().__init__()
        if groups not in STAGE2_CHANNELS:
            raise ValueError(f"groups must be one of {sorted(STAGE2_CHANNELS)}, got {groups}")
        if len(depth) != 3 or any(type(d) is not int or d < 1 for d in depth):
            raise ValueError(f"expected three stages of at least one unit, got depths {list(depth)}")
        widths = [stage2_channels(groups, width) * 2**i for i in range(3)]
        self.conv1 = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 24
        for index, (repeats, out_ch) in enumerate(zip(depth, widths), 2):
            units = [ShuffleUnit(in_ch, out_ch, groups, 2, group_first=index != 2)]
            units += [ShuffleUnit(out_ch, out_ch, groups, 1, True) for _ in range(repeats - 1)]
            setattr(self, f"stage{index}", nn.Sequential(*units))
            in_ch = out_ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def shufflenet_v1(
    groups: int = 3, width: float = 1.0, depth: tuple[int, int, int] | list[int] = (4, 8, 4), num_classes: int = 1000
) -> ShuffleNetV1:
    """ShuffleNet v1 over the paper's design space: ``groups`` g ∈ {1, 2, 3, 4, 8}, ``width`` s
    ("ShuffleNet s×", Table 2), ``depth`` = units per stage (4, 8, 4)."""
    return ShuffleNetV1(int(groups), num_classes, float(width), tuple(depth))


def shufflenet_v1_g1() -> ShuffleNetV1:
    """ShuffleNet v1 1.0x, g = 1 (paper Table 1: 143 MFLOPs)."""
    return ShuffleNetV1(1)


def shufflenet_v1_g2() -> ShuffleNetV1:
    """ShuffleNet v1 1.0x, g = 2 (paper Table 1: 140 MFLOPs)."""
    return ShuffleNetV1(2)


def shufflenet_v1_g3() -> ShuffleNetV1:
    """ShuffleNet v1 1.0x, g = 3 (paper Table 1: 137 MFLOPs)."""
    return ShuffleNetV1(3)


def shufflenet_v1_g4() -> ShuffleNetV1:
    """ShuffleNet v1 1.0x, g = 4 (paper Table 1: 133 MFLOPs)."""
    return ShuffleNetV1(4)


def shufflenet_v1_g8() -> ShuffleNetV1:
    """ShuffleNet v1 1.0x, g = 8 (paper Table 1: 137 MFLOPs)."""
    return ShuffleNetV1(8)
