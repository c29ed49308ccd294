"""The paper's design space in the zoo's builders: width multiplier, groups, units per stage and split
ratio; the defaults are the published networks, the knobs change exactly the layers they name (checked
against closed forms written here and against FlopCounterMode on a real forward)."""

from __future__ import annotations

import pytest
import torch

from costmodel import analyze
from costmodel.zoo import ZOO
from costmodel.zoo.shufflenet_v1 import shufflenet_v1
from costmodel.zoo.shufflenet_v2 import shufflenet_v2
from tests.oracles.test_corpus import oracle_contraction_flops


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("width", "name"), [(0.5, "shufflenet_v2_x0_5"), (1.0, "shufflenet_v2_x1_0"), (2.0, "shufflenet_v2_x2_0")]
)
def test_published_widths_are_the_published_networks(width: float, name: str) -> None:
    mine, published = shufflenet_v2(width=width), ZOO[name]()
    assert list(mine.state_dict()) == list(published.state_dict())
    assert [t.shape for t in mine.state_dict().values()] == [t.shape for t in published.state_dict().values()]


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8])
def test_shufflenet_v1_defaults_are_table_1(groups: int) -> None:
    assert _params(shufflenet_v1(groups=groups)) == _params(ZOO[f"shufflenet_v1_g{groups}"]())


def test_split_ratio_sets_the_convolved_channels() -> None:
    model = shufflenet_v2(split=0.25)  # stage 2 has 116 channels: 29 convolved, 87 passed through
    unit = model.stage2[1]
    assert unit.branch2[0].weight.shape == (29, 29, 1, 1)
    assert unit.branch2[3].weight.shape == (29, 1, 3, 3)
    first = model.stage2[0]  # stride 2: branch2 writes 29 channels, branch1 the other 87
    assert first.branch2[5].weight.shape[0] == 29 and first.branch1[2].weight.shape[0] == 87
    rows = {r.name: r for r in analyze(model, (1, 3, 224, 224)).layers}
    assert rows["stage2.1.branch2.0"].flops == 29 * 29 * 28 * 28  # 1x1 conv on the 28x28 map
    assert rows["stage2.1.branch2.3"].flops == 29 * 9 * 28 * 28  # depthwise 3x3
    assert rows["stage2.1.split"].output_shape == [1, 87, 28, 28]


def test_depth_and_width_set_units_and_channels() -> None:
    model = shufflenet_v2(width=0.75, depth=(2, 3, 1))
    assert [len(model.stage2), len(model.stage3), len(model.stage4)] == [2, 3, 1]
    assert model.stage2[0].branch2[5].weight.shape[0] == 44  # 116·0.75 = 87 → 88 (even), half convolved
    v1 = shufflenet_v1(groups=8, width=0.5, depth=(1, 2, 1))
    assert v1.stage2[0].gconv2.weight.shape[0] + 24 == 192  # 384·0.5 = 192, a multiple of 4·8; minus the 24 shortcut channels
    assert [len(v1.stage2), len(v1.stage3), len(v1.stage4)] == [1, 2, 1]


@pytest.mark.parametrize(
    "build",
    [lambda: shufflenet_v2(width=0.75, split=0.4, depth=(2, 4, 2)), lambda: shufflenet_v1(groups=4, width=0.5, depth=(2, 3, 2))],
)
def test_off_the_table_networks_agree_with_flop_counter(build) -> None:  # type: ignore[no-untyped-def]
    model = build()
    assert analyze(model, (1, 3, 160, 160)).contraction_flops == oracle_contraction_flops(model, (1, 3, 160, 160))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: shufflenet_v2(split=1.0), "split ratio must lie strictly between 0 and 1"),
        (lambda: shufflenet_v2(width=0), "width multiplier must lie in"),
        (lambda: shufflenet_v2(depth=(4, 0, 4)), "at least one unit"),
        (lambda: shufflenet_v1(groups=5), "groups must be one of"),
        (lambda: shufflenet_v1(depth=(4, 8)), "three stages"),
    ],
)
def test_bad_knobs_are_one_line_errors(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        build()
