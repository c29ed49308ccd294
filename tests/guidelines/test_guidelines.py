"""Guideline experiments (Tables 1-4) and the guideline linter."""

from __future__ import annotations

import json

import pytest
from costmodel_cli.main import main
from torch import nn

from costmodel.guidelines import paper_tables as paper
from costmodel.guidelines.experiments import REPEAT_BLOCKS, SIZE, kendall_tau, run_table, table_rows
from costmodel.guidelines.lint import LintThresholds, lint
from tests.conftest import zoo_model


@pytest.fixture(scope="module")
def analytic() -> dict[int, object]:
    return {t: run_table(t, measure=False, predict=False) for t in (1, 2, 3, 4)}


def test_kendall_tau_by_hand() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # pairs: (1,2)+ (1,3)+ (1,4)+ (2,3)- (2,4)+ (3,4)+ → (5 − 1)/6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


@pytest.mark.parametrize("table", [1, 2, 3, 4])
def test_flops_equal_within_each_table_to_the_papers_tolerance(analytic: dict[int, object], table: int) -> None:
    # the paper's own channel choices differ by up to 5.3% (Table 1: 36·432 vs 128·128), 7% in Table 4 at c=32
    spreads = analytic[table].flops_spread  # type: ignore[attr-defined]
    assert set(spreads) == {1, 2, 4}
    assert all(0 <= s <= 0.075 for s in spreads.values()), spreads


def test_table1_layer_shapes_follow_the_paper() -> None:
    rows = [r for r in table_rows(1, "cpu") if r.width == 1]
    assert [r.channels for r in rows] == [f"({c1},{c2})" for c1, c2 in (v["arm_channels"] for v in paper.TABLE1.values())]
    model = rows[3].build()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2 * REPEAT_BLOCKS
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs[:2]] == [(9, 108, (1, 1)), (108, 9, (1, 1))]
    gpu_rows = [r for r in table_rows(1, "cuda") if r.width == 4]
    assert gpu_rows[0].channels == "(512,512)"


def test_table2_groups_and_channels() -> None:
    rows = [r for r in table_rows(2, "cuda") if r.width == 1]
    convs = [next(m for m in r.build().modules() if isinstance(m, nn.Conv2d)) for r in rows]
    assert [(c.in_channels, c.groups) for c in convs] == [(128, 1), (180, 2), (256, 4), (360, 8)]
    # ARM's g=8 row lists c=180, which 8 does not divide: the nearest multiple keeping FLOPs closest
    arm = [next(m for m in r.build().modules() if isinstance(m, nn.Conv2d)) for r in table_rows(2, "cpu") if r.width == 1]
    assert arm[-1].in_channels == 184 and arm[-1].groups == 8


@pytest.mark.parametrize("table", [1, 2])
def test_mac_ordering_matches_the_guideline(analytic: dict[int, object], table: int) -> None:
    result = analytic[table]
    for width in (1, 2, 4):
        macs = [r.report.totals["mac"] for r in result.rows if r.width == width]  # type: ignore[attr-defined]
        assert macs == sorted(macs), (table, width)  # 1:1 (or g = 1) moves the least memory
        assert result.tau_mac[width] == pytest.approx(1.0)  # type: ignore[attr-defined]


def test_table4_removing_relu_and_shortcut_cuts_mac(analytic: dict[int, object]) -> None:
    for width in (1, 2, 4):
        rows = {r.label: r.report for r in analytic[4].rows if r.width == width}  # type: ignore[attr-defined]
        full, bare = rows["ReLU yes, shortcut yes"], rows["ReLU no, shortcut no"]
        assert bare.totals["mac"] < full.totals["mac"]
        assert bare.flops_of("conv") == full.flops_of("conv")
        c = paper.TABLE4_CHANNELS[{1: 0, 2: 1, 4: 2}[width]]
        # each block's shortcut add reads two c×56×56 tensors and writes one; each ReLU reads and writes one
        assert full.totals["mac"] - rows["ReLU yes, shortcut no"].totals["mac"] == REPEAT_BLOCKS * 3 * c * SIZE * SIZE


def test_table3_fragments_are_more_memory_hungry(analytic: dict[int, object]) -> None:
    for width in (1, 2, 4):
        rows = {r.label: r.report.totals["mac"] for r in analytic[3].rows if r.width == width}  # type: ignore[attr-defined]
        assert rows["1-fragment"] < rows["2-fragment-series"] < rows["4-fragment-series"]
        assert rows["2-fragment-parallel"] > rows["2-fragment-series"]


@pytest.mark.slow
def test_measured_table_runs_on_tiny_settings() -> None:
    result = run_table(2, measure=True, repeats=2, widths=(1,))
    assert all(r.measured_ms and r.measured_ms > 0 and r.speed and r.speed > 0 for r in result.rows)
    assert all(r.predicted_ms and r.predicted_ms > 0 for r in result.rows)
    assert set(result.tau_measured) == {1} and "G2" in result.verdict


def test_guidelines_cli_json_without_measuring(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["guidelines", "--table", "1", "--no-measure", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["table"] == 1 and len(data[0]["rows"]) == 12
    row = data[0]["rows"][0]
    assert row["paper_gpu_batches_per_s"] == 1480 and row["paper_arm_images_per_s"] == 76.2
    assert "arXiv:1807.11164" in data[0]["source"]


def test_lint_shufflenet_v1_shows_the_papers_g2_and_g4_findings() -> None:
    result = lint(zoo_model("shufflenet_v1_g3"), name="shufflenet_v1_g3")
    g2 = result.by_guideline("G2")
    assert len(g2) == 31 and all(f.value == 3 for f in g2)  # every 1x1 conv but the first is grouped
    g4 = result.by_guideline("G4")
    assert g4 and all("add" in f.message for f in g4)  # the residual adds of the stride-1 units
    assert result.by_guideline("G1")  # the bottleneck 4:1 / 1:4 widths


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"])
def test_lint_shufflenet_v2_is_clean_on_g1_and_g2(name: str) -> None:
    result = lint(zoo_model(name), name=name)
    assert result.by_guideline("G1") == [] and result.by_guideline("G2") == []
    assert result.summary["G1"]["mean_mac_efficiency"] > 0.98


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_5", "shufflenet_v2_x2_0"])
def test_wider_shufflenet_v2_breaks_g1_only_where_the_stem_feeds_it(name: str) -> None:
    # the 24-channel stem feeds 1x1 convs to 88 (1.5x) or 122 (2.0x) channels in the first unit: real G1 findings
    result = lint(zoo_model(name), name=name)
    assert result.by_guideline("G2") == []
    assert result.by_guideline("G1") and all(f.where.startswith("stage2.0.") for f in result.by_guideline("G1"))


def test_lint_g2_extra_mac_is_eq2() -> None:
    conv = nn.Conv2d(64, 64, 1, groups=4, bias=False)
    finding = lint(conv, (1, 64, 8, 8)).by_guideline("G2")[0]
    b = 8 * 8 * 64 * 64 // 4
    assert f"{b * 3 // 64:,} extra MAC" in finding.message


def test_lint_g3_counts_parallel_branches() -> None:
    class FourWay(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.ModuleDict({f"b{i}": nn.Conv2d(8, 8, 1) for i in range(4)})

        def forward(self, x):  # type: ignore[no-untyped-def]
            return sum(conv(x) for conv in self.block.values())

    result = lint(FourWay(), (1, 8, 4, 4), thresholds=LintThresholds(block_depth=1))
    g3 = result.by_guideline("G3")
    assert len(g3) == 1 and g3[0].value == 4


def test_lint_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "shufflenet_v2_x1_0"]) == 0
    out = capsys.readouterr().out
    assert "G1 equal channel widths: 0 finding(s) — clean" in out
    assert main(["lint", "shufflenet_v1_g8", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["G2"]["max_groups_pointwise"] == 8


def test_lint_and_guidelines_csv(capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    assert main(["lint", "shufflenet_v1_g3", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["guideline"] for r in rows} == {"G1", "G2", "G4"} and len(rows) == 65
    assert main(["guidelines", "--table", "2", "--no-measure", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 12 and rows[0]["paper_arm_images_per_s"] == "40.0" and rows[0]["measured_ms"] == ""


@pytest.mark.parametrize("command", [["guidelines", "--table", "1"], ["compare", "resnet18"]])
def test_cuda_without_gpu_is_a_one_line_error(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main([*command, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and len(err.strip().splitlines()) == 1
