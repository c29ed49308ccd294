"""MobileNetV2 (Sandler et al., CVPR 2018), width 1.0, layer for layer torchvision's structure."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + ReLU6, 'same' padding (torchvision's Conv2dNormActivation)."""

    def __init__(self, inp: int, oup: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(oup),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand 1x1 (if t > 1), depthwise 3x3, project 1x1 (linear); identity add when shapes match."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(inp, hidden, kernel=1))
        layers += [
            ConvBNAct(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


# (expansion t, output channels c, repeats n, first stride s), the paper's Table 2.
_SETTINGS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0x for 224x224 ImageNet classification."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        in_ch, last = 32, 1280
        features: list[nn.Module] = [ConvBNAct(3, in_ch, stride=2)]
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        features.append(ConvBNAct(in_ch, last, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = x.flatten(1)
        return self.classifier(x)


def mobilenet_v2() -> MobileNetV2:
    """MobileNetV2 1.0x (torchvision: 3,504,872 params, 0.30 GFLOPs)."""
    return MobileNetV2()
