"""The model zoo: the project's own definitions of the architectures the paper compares.

``ZOO`` maps a name to a zero-argument builder; ``DESIGN_SPACES`` a name to a builder taking the paper's
knobs as keywords; ``DOCUMENTED_PARAMS`` holds the published parameter
counts (torchvision's model docs) that the tests check our definitions against.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from costmodel.zoo.mobilenet_v2 import mobilenet_v2
from costmodel.zoo.resnet import resnet18, resnet50
from costmodel.zoo.shufflenet_v1 import (
    shufflenet_v1,
    shufflenet_v1_g1,
    shufflenet_v1_g2,
    shufflenet_v1_g3,
    shufflenet_v1_g4,
    shufflenet_v1_g8,
)
from costmodel.zoo.shufflenet_v2 import (
    shufflenet_v2,
    shufflenet_v2_x0_5,
    shufflenet_v2_x1_0,
    shufflenet_v2_x1_5,
    shufflenet_v2_x2_0,
)

ZOO: dict[str, Callable[[], nn.Module]] = {
    "shufflenet_v2_x0_5": shufflenet_v2_x0_5,
    "shufflenet_v2_x1_0": shufflenet_v2_x1_0,
    "shufflenet_v2_x1_5": shufflenet_v2_x1_5,
    "shufflenet_v2_x2_0": shufflenet_v2_x2_0,
    "shufflenet_v1_g1": shufflenet_v1_g1,
    "shufflenet_v1_g2": shufflenet_v1_g2,
    "shufflenet_v1_g3": shufflenet_v1_g3,
    "shufflenet_v1_g4": shufflenet_v1_g4,
    "shufflenet_v1_g8": shufflenet_v1_g8,
    "mobilenet_v2": mobilenet_v2,
    "resnet18": resnet18,
    "resnet50": resnet50,
}

#: Builders over the paper's design space, taking its knobs as keyword arguments (``costmodel sweep NAME``).
DESIGN_SPACES: dict[str, Callable[..., nn.Module]] = {
    "shufflenet_v2": shufflenet_v2,  # width, depth, split, num_classes
    "shufflenet_v1": shufflenet_v1,  # groups, width, depth, num_classes
}

# Parameter counts published in torchvision's model documentation (``num_params``).
DOCUMENTED_PARAMS: dict[str, int] = {
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
    "mobilenet_v2": 3_504_872,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
}

__all__ = ["ZOO", "DESIGN_SPACES", "DOCUMENTED_PARAMS"]
