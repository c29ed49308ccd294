"""The zoo against published figures: torchvision's documented parameter counts and the papers' tables."""

from __future__ import annotations

import pytest
import torch

from costmodel import analyze
from costmodel.zoo import DOCUMENTED_PARAMS, ZOO
from costmodel.zoo.shufflenet_v1 import PAPER_MFLOPS, STAGE2_CHANNELS
from tests.conftest import zoo_model, zoo_report


@pytest.mark.parametrize("name", sorted(DOCUMENTED_PARAMS))
def test_parameter_counts_equal_torchvision_documentation(name: str) -> None:
    assert sum(p.numel() for p in zoo_model(name).parameters()) == DOCUMENTED_PARAMS[name]


@pytest.mark.parametrize("groups", sorted(STAGE2_CHANNELS))
def test_shufflenet_v1_flops_match_paper_table_1(groups: int) -> None:
    # Table 1 of the ShuffleNet paper states ~143/140/137/133/137 MFLOPs (rounded, conv + FC).
    report = zoo_report(f"shufflenet_v1_g{groups}")
    mflops = report.flops_of("conv", "linear") / 1e6
    assert mflops == pytest.approx(PAPER_MFLOPS[groups], rel=0.015)


def test_shufflenet_v1_g3_params_match_published_figure() -> None:
    # OpenMMLab's model card for ShuffleNetV1 1.0x (group=3): 1.87 M parameters.
    params = sum(p.numel() for p in zoo_model("shufflenet_v1_g3").parameters())
    assert round(params / 1e6, 2) == 1.87


@pytest.mark.parametrize(
    ("name", "paper_mflops"),
    [("shufflenet_v2_x0_5", 41), ("shufflenet_v2_x1_0", 146), ("shufflenet_v2_x1_5", 299), ("shufflenet_v2_x2_0", 591)],
)
def test_shufflenet_v2_flops_near_paper_table(name: str, paper_mflops: int) -> None:
    # ShuffleNet V2 paper, Table 5/8 complexities; torchvision's definition differs from the paper's
    # count by the FC/pooling convention, so allow 2%.
    assert zoo_report(name).flops_of("conv", "linear") / 1e6 == pytest.approx(paper_mflops, rel=0.02)


def test_shufflenet_v2_stage_widths_follow_paper_table_5() -> None:
    model = zoo_model("shufflenet_v2_x1_0")
    widths = [model.get_submodule(f"stage{i}.0.branch2.5").out_channels * 2 for i in (2, 3, 4)]
    assert widths == [116, 232, 464]
    assert [len(model.get_submodule(f"stage{i}")) for i in (2, 3, 4)] == [4, 8, 4]


def test_every_zoo_model_classifies_1000_classes_and_every_row_has_the_real_shape(zoo_name: str) -> None:
    """A real forward at 2×3×64×64 with hooks on every leaf module is the oracle: the model ends in 1000
    logits, and each module row's output shape is the shape that module really produced."""
    model = ZOO[zoo_name]().eval()
    produced: dict[str, list[list[int]]] = {}
    handles = [
        module.register_forward_hook(lambda m, i, o, path=path: produced.setdefault(path, []).append(list(o.shape)))
        for path, module in model.named_modules()
        if path and not list(module.children())
    ]
    try:
        with torch.no_grad():
            logits = model(torch.randn(2, 3, 64, 64))
    finally:
        for handle in handles:
            handle.remove()
    assert list(logits.shape) == [2, 1000]
    report = analyze(model, (2, 3, 64, 64))
    assert report.layers[-1].output_shape == [2, 1000]
    rows: dict[str, list[list[int]]] = {}
    for row in report.layers:
        if row.module in produced and row.op == type(model.get_submodule(row.module)).__name__:
            rows.setdefault(row.module, []).append(row.output_shape)
    assert rows == produced  # every leaf call is one row, with the shape it produced
