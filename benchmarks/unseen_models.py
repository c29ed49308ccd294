"""Models the calibration work never looks at: new own definitions and Hugging Face CNNs from configs.

Kept apart from ``costmodel.zoo`` (the models the tool was developed on): ``prediction_accuracy.py``
judges the runtime model on them. The own definitions follow the published architectures' structure
at reduced depth where the original would take long on one CPU thread; the Hugging Face ones are
built from their libraries' configs (no weights, no downloads).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _conv_bn(
    c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU
) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, squeeze: int, gate: type[nn.Module], act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(c, squeeze, 1)
        self.act = act()
        self.expand = nn.Conv2d(squeeze, c, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class InvertedBottleneck(nn.Module):
    """MobileNetV3 / EfficientNet block: expand 1x1, depthwise k×k, optional SE, project 1x1."""

    def __init__(
        self, c_in: int, c_out: int, expand: int, k: int, stride: int, act: type[nn.Module], se: type[nn.Module] | None
    ) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = _conv_bn(c_in, hidden, 1, act=act) if expand != 1 else nn.Identity()
        self.depthwise = _conv_bn(hidden, hidden, k, stride, groups=hidden, act=act)
        self.se = (
            SqueezeExcite(hidden, max(8, c_in // 4), se, act=nn.SiLU if act is nn.SiLU else nn.ReLU) if se else nn.Identity()
        )
        self.project = _conv_bn(hidden, c_out, 1, act=None)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + y if self.residual else y


class MobileNetV3SmallLike(nn.Module):
    """MobileNetV3-Small's layout: hardswish, SE with hardsigmoid gates, 5×5 depthwise convs."""

    def __init__(self) -> None:
        super().__init__()
        hs, re = nn.Hardswish, nn.ReLU
        spec = [  # c_out, expand, k, stride, act, se
            (16, 1, 3, 2, re, nn.Hardsigmoid), (24, 4, 3, 2, re, None), (24, 3, 3, 1, re, None),
            (40, 4, 5, 2, hs, nn.Hardsigmoid), (40, 6, 5, 1, hs, nn.Hardsigmoid), (48, 3, 5, 1, hs, nn.Hardsigmoid),
            (96, 6, 5, 2, hs, nn.Hardsigmoid), (96, 6, 5, 1, hs, nn.Hardsigmoid),
        ]  # fmt: skip
        layers: list[nn.Module] = [_conv_bn(3, 16, 3, 2, act=hs)]
        c = 16
        for c_out, expand, k, stride, act, se in spec:
            layers.append(InvertedBottleneck(c, c_out, expand, k, stride, act, se))
            c = c_out
        layers.append(_conv_bn(c, 576, 1, act=hs))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


class EfficientNetB0Like(nn.Module):
    """EfficientNet-B0's stages (one block per stage): SiLU everywhere, SE with sigmoid gates."""

    def __init__(self) -> None:
        super().__init__()
        spec = [(16, 1, 3, 1), (24, 6, 3, 2), (40, 6, 5, 2), (80, 6, 3, 2), (112, 6, 5, 1), (192, 6, 5, 2), (320, 6, 3, 1)]
        layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2, act=nn.SiLU)]
        c = 32
        for c_out, expand, k, stride in spec:
            layers.append(InvertedBottleneck(c, c_out, expand, k, stride, nn.SiLU, nn.Sigmoid))
            layers.append(InvertedBottleneck(c_out, c_out, expand, k, 1, nn.SiLU, nn.Sigmoid))
            c = c_out
        layers.append(_conv_bn(c, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__()
        self.bottleneck = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Conv2d(c_in, 4 * growth, 1, bias=False))
        self.conv = nn.Sequential(nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(self.bottleneck(torch.cat(features, 1)))


class DenseBlock(nn.Module):
    def __init__(self, layers: int, c_in: int, growth: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(c_in + i * growth, growth) for i in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNetLike(nn.Module):
    """DenseNet-121's pattern at reduced depth: concatenations of every earlier feature map."""

    def __init__(self, blocks: tuple[int, ...] = (4, 6, 6, 4), growth: int = 24) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
        c = 64
        for i, n in enumerate(blocks):
            layers.append(DenseBlock(n, c, growth))
            c += n * growth
            if i < len(blocks) - 1:
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2)]
                c //= 2
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU())
        self.fc = nn.Linear(c, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


class VGG11Like(nn.Module):
    """VGG-11's layout at half width, with its classifier of large GEMVs at batch 1."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in (32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, 256, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(c * 49, 2048), nn.ReLU(True), nn.Linear(2048, 2048), nn.ReLU(True), nn.Linear(2048, 1000)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pw1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(4 * c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(self.act(self.pw1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + y


class ConvNeXtLike(nn.Module):
    """ConvNeXt-T's block (7×7 depthwise, channels-last LayerNorm, GELU MLP) at reduced depth and width."""

    def __init__(self, widths: tuple[int, ...] = (48, 96, 192, 384), depths: tuple[int, ...] = (1, 1, 3, 1)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 4)]
        for i, (c, d) in enumerate(zip(widths, depths)):
            if i:
                layers.append(nn.Conv2d(widths[i - 1], c, 2, 2))
            layers += [ConvNeXtBlock(c) for _ in range(d)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean([2, 3]))


class RegNetXLike(nn.Module):
    """RegNetX-400MF-like: residual bottlenecks of grouped 3×3 convs (group width 16)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv_bn(3, 32, 3, 2)
        stages = []
        c = 32
        for width, depth in ((32, 1), (64, 2), (160, 3), (384, 2)):
            for i in range(depth):
                stages.append(_RegNetBlock(c, width, 2 if i == 0 else 1, width // 16))
                c = width
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(c, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stages(self.stem(x)).mean([2, 3]))


class _RegNetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, groups: int) -> None:
        super().__init__()
        self.a = _conv_bn(c_in, c_out, 1)
        self.b = _conv_bn(c_out, c_out, 3, stride, groups=groups)
        self.c = _conv_bn(c_out, c_out, 1, act=None)
        self.shortcut = _conv_bn(c_in, c_out, 1, stride, act=None) if stride != 1 or c_in != c_out else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.shortcut(x) + self.c(self.b(self.a(x))))


OWN: dict[str, Callable[[], nn.Module]] = {
    "mobilenet_v3_small_like": MobileNetV3SmallLike,
    "efficientnet_b0_like": EfficientNetB0Like,
    "densenet_like": DenseNetLike,
    "vgg11_like": VGG11Like,
    "convnext_like": ConvNeXtLike,
    "regnetx_like": RegNetXLike,
}


def hugging_face() -> dict[str, Callable[[], nn.Module]]:
    """Hugging Face ``transformers`` CNNs from configs (none if transformers is missing)."""
    try:
        import transformers as tf
    except ImportError:
        return {}

    def build(model_class: str, config_class: str, **config: object) -> Callable[[], nn.Module]:
        def make() -> nn.Module:
            return getattr(tf, model_class)(getattr(tf, config_class)(**config)).eval()

        return make

    return {
        "hf_mobilenet_v2": build("MobileNetV2ForImageClassification", "MobileNetV2Config"),
        "hf_mobilenet_v1": build("MobileNetV1ForImageClassification", "MobileNetV1Config", depth_multiplier=0.75),
        "hf_resnet18": build(
            "ResNetForImageClassification",
            "ResNetConfig",
            layer_type="basic",
            depths=[2, 2, 2, 2],
            hidden_sizes=[64, 128, 256, 512],
        ),
        "hf_efficientnet_b0": build(
            "EfficientNetForImageClassification",
            "EfficientNetConfig",
            width_coefficient=1.0,
            depth_coefficient=1.0,
            hidden_dim=1280,
        ),
        "hf_convnext_nano": build(
            "ConvNextForImageClassification", "ConvNextConfig", depths=[2, 2, 4, 2], hidden_sizes=[80, 160, 320, 640]
        ),
        "hf_regnet": build(
            "RegNetForImageClassification", "RegNetConfig", depths=[1, 2, 4, 2], hidden_sizes=[48, 96, 240, 528], groups_width=24
        ),
    }
