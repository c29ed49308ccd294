"""ShuffleNet V2 (Ma et al., ECCV 2018), layer for layer torchvision's ``shufflenetv2`` structure.

Parameter counts equal torchvision's documented figures (tests check them); the module names
(``conv1``, ``stage2.0.branch1.0`` …) match torchvision's too, so reports line up with theirs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave ``groups`` channel groups: view as (N, g, C/g, H, W), swap dims 1-2, copy, flatten."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, channels, height, width)


def _depthwise(channels: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, stride, 1, bias=False, groups=channels)


class InvertedResidual(nn.Module):
    """The ShuffleNet V2 unit: channel split (stride 1) or two branches (stride 2), concat, shuffle.

    ``split`` is the fraction of the channels the convolution branch carries (the paper's c' = c/2 is
    0.5): a stride-1 unit passes ``oup − branch`` channels through untouched and convolves ``branch``;
    a stride-2 unit's second branch writes ``branch`` channels and its first the rest."""

    def __init__(self, inp: int, oup: int, stride: int, split: float = 0.5) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if not 0 < split < 1:
            raise ValueError(f"the split ratio must lie strictly between 0 and 1, got {split}")
        self.stride = stride
        branch = oup // 2 if split == 0.5 else max(1, min(oup - 1, round(oup * split)))
        self.sizes = [oup - branch, branch]  # a stride-1 unit: channels passed through, channels convolved
        if stride == 1 and inp != oup:
            raise ValueError(f"a stride-1 unit needs inp == oup, got {inp} and {oup}")
        if stride > 1:
            side = oup - branch
            self.branch1 = nn.Sequential(
                _depthwise(inp, stride),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, side, 1, bias=False),
                nn.BatchNorm2d(side),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            _depthwise(branch, stride),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            even = self.sizes[0] == self.sizes[1]  # the paper's split: chunk in two, as torchvision does
            left, right = x.chunk(2, dim=1) if even else x.split(self.sizes, dim=1)
            out = torch.cat((left, self.branch2(right)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNet V2 for 224x224 ImageNet classification (stem, three stages, conv5, GAP, FC)."""

    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(
        self,
        stages_repeats: list[int],
        stages_out_channels: list[int],
        num_classes: int = 1000,
        split: float = 0.5,
    ) -> None:
        super().__init__()
        if len(stages_repeats) != 3 or len(stages_out_channels) != 5:
            raise ValueError("expected 3 stage repeats and 5 channel widths")
        if any(type(r) is not int or r < 1 for r in stages_repeats):
            raise ValueError(f"every stage needs at least one unit, got depths {list(stages_repeats)}")
        in_ch = stages_out_channels[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, in_ch, 3, 2, 1, bias=False),
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for index, (repeats, out_ch) in enumerate(zip(stages_repeats, stages_out_channels[1:4]), 2):
            units: list[nn.Module] = [InvertedResidual(in_ch, out_ch, 2, split)]
            units += [InvertedResidual(out_ch, out_ch, 1, split) for _ in range(repeats - 1)]
            setattr(self, f"stage{index}", nn.Sequential(*units))
            in_ch = out_ch
        last = stages_out_channels[-1]
        self.conv5 = nn.Sequential(
            nn.Conv2d(in_ch, last, 1, 1, 0, bias=False),
            nn.BatchNorm2d(last),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        x = self.conv5(x)
        x = x.mean([2, 3])  # global average pool
        return self.fc(x)


_WIDTHS = {
    "0_5": [24, 48, 96, 192, 1024],
    "1_0": [24, 116, 232, 464, 1024],
    "1_5": [24, 176, 352, 704, 1024],
    "2_0": [24, 244, 488, 976, 2048],
}


#: The paper's published width multipliers and their stage channels (Table 5 / torchvision).
PUBLISHED_WIDTHS = {0.5: "0_5", 1.0: "1_0", 1.5: "1_5", 2.0: "2_0"}


def stage_channels(width: float) -> list[int]:
    """Stem, three stages and conv5 channels for a width multiplier: the paper's own numbers at 0.5, 1, 1.5
    and 2; otherwise 116·width rounded to an even number (the shuffle needs two equal groups), doubled per
    stage, with conv5 1024 (2048 from 2× on, as the paper)."""
    if width in PUBLISHED_WIDTHS:
        return list(_WIDTHS[PUBLISHED_WIDTHS[width]])
    if not 0 < width <= 8:
        raise ValueError(f"the width multiplier must lie in (0, 8], got {width}")
    stage2 = max(4, 2 * round(116 * width / 2))
    return [24, stage2, 2 * stage2, 4 * stage2, 2048 if width >= 2 else 1024]


def shufflenet_v2(
    width: float = 1.0, depth: tuple[int, int, int] | list[int] = (4, 8, 4), split: float = 0.5, num_classes: int = 1000
) -> ShuffleNetV2:
    """ShuffleNet V2 over the paper's design space: ``width`` multiplier (0.5, 1, 1.5, 2 give the published
    networks exactly), ``depth`` = units per stage (4, 8, 4), ``split`` = the fraction of channels the
    convolution branch of a unit carries (0.5 in the paper)."""
    return ShuffleNetV2(list(depth), stage_channels(float(width)), num_classes, float(split))


def _build(width: str) -> ShuffleNetV2:
    return ShuffleNetV2([4, 8, 4], _WIDTHS[width])


def shufflenet_v2_x0_5() -> ShuffleNetV2:
    """ShuffleNet V2 0.5x (torchvision: 1,366,792 params)."""
    return _build("0_5")


def shufflenet_v2_x1_0() -> ShuffleNetV2:
    """ShuffleNet V2 1.0x (torchvision: 2,278,604 params; paper: 146 MFLOPs)."""
    return _build("1_0")


def shufflenet_v2_x1_5() -> ShuffleNetV2:
    """ShuffleNet V2 1.5x (torchvision: 3,503,624 params; paper: 299 MFLOPs)."""
    return _build("1_5")


def shufflenet_v2_x2_0() -> ShuffleNetV2:
    """ShuffleNet V2 2.0x (torchvision: 7,393,996 params; paper: 591 MFLOPs)."""
    return _build("2_0")
