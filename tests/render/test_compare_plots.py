"""compare, the --plot figures (inspected as figure objects and as PNG files), and the notebooks."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from costmodel_cli.main import main

import costmodel
from costmodel.guidelines.compare import CompareRow, compare
from tests.conftest import zoo_model, zoo_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


def test_compare_numbers_equal_report_numbers() -> None:
    names = ["shufflenet_v2_x0_5", "shufflenet_v1_g3", "resnet18"]
    rows = compare([(n, zoo_model(n)) for n in names])
    for row, name in zip(rows, names):
        report = zoo_report(name)
        assert (row.params, row.flops, row.mac) == (report.totals["params"], report.totals["flops"], report.totals["mac"])
        assert row.flops_conv_linear == report.flops_of("conv", "linear")
        assert row.elementwise_mac == sum(r.mac for r in report.layers if r.is_elementwise)
        effs = [r.mac_efficiency for r in report.layers if r.is_pointwise_conv]
        assert row.mean_pointwise_efficiency == pytest.approx(sum(effs) / len(effs))
        assert row.measured_ms is None


def test_plot_compare_axes_and_series() -> None:
    # latency ranks (1, 3, 2): FLOPs ranks (1, 2, 3) give ρ = 1 − 6·2/(3·8) = 0.5, MAC ranks (1, 3, 2) give 1
    rows = [
        CompareRow("a", 1, 100, 90, 10, 5, 1.0, measured_ms=1.0),
        CompareRow("b", 1, 150, 140, 40, 9, 0.9, measured_ms=3.0),
        CompareRow("c", 1, 200, 180, 20, 7, 0.95, measured_ms=2.0),
    ]
    fig = costmodel.plot_compare(rows)
    left, right = fig.axes
    assert left.get_xlabel().startswith("FLOPs") and right.get_xlabel().startswith("MAC")
    assert left.get_ylabel() == right.get_ylabel() == "measured latency (ms)"
    assert list(left.collections[0].get_offsets()[:, 0]) == [100, 150, 200]
    assert list(right.collections[0].get_offsets()[:, 1]) == [1.0, 3.0, 2.0]
    assert "ρ = 0.50" in left.get_title() and "ρ = 1.00" in right.get_title()
    with pytest.raises(ValueError, match="measured"):
        costmodel.plot_compare([CompareRow("x", 1, 1, 1, 1, 1, None)])


def test_plot_layers_series_follow_the_report() -> None:
    report = zoo_report("shufflenet_v2_x0_5")
    fig = costmodel.plot_layers(report)
    top, bottom = fig.axes
    work = [r for r in report.layers if r.flops or r.mac]
    assert [p.get_height() for p in top.patches] == [r.flops for r in work]
    assert list(bottom.lines[0].get_ydata()) == [r.mac for r in work]
    bounds = bottom.collections[0].get_offsets()[:, 1]
    assert len(bounds) == sum(r.mac_lower_bound is not None for r in work)
    assert bottom.get_legend().get_texts()[1].get_text() == "MAC lower bound (proved)"


def test_report_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "layers.png"
    assert main(["report", "resnet18", "--plot", str(out), "--top", "3"]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_compare_and_bench_plots_through_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cmp_png, roof_png = tmp_path / "compare.png", tmp_path / "roof.png"
    assert (
        main(["compare", "shufflenet_v2_x0_5", "resnet18", "--input", "1,3,64,64", "--repeats", "2", "--plot", str(cmp_png)]) == 0
    )
    out = capsys.readouterr().out
    assert "measured ms" in out and "roofline ms" in out
    assert cmp_png.read_bytes()[:8] == PNG_MAGIC
    assert main(["bench", "resnet18", "--input", "1,3,64,64", "--repeats", "2", "--plot", str(roof_png)]) == 0
    assert roof_png.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.slow
def test_roofline_figure_has_roof_and_layers() -> None:
    result = costmodel.bench(zoo_model("resnet18"), (1, 3, 64, 64), repeats=2, warmup=1)
    fig = costmodel.plot_roofline(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.lines[0].get_label().startswith("roof")
    cal, layers = result.calibration, {r.name: r for r in result.report.layers}
    placed = [r for r in result.rows if r.flops > 0 and r.mac > 0 and layers[r.name].kind in cal.compute]
    offsets = [tuple(xy) for c in ax.collections for xy in c.get_offsets()]
    assert len(offsets) == len(placed) > 0 and f"n = {len(placed)}" in ax.get_title()
    # the colours and the ridge agree: red points right of x = 1, blue ones left of it
    red, blue = ax.collections[0].get_offsets(), ax.collections[1].get_offsets()
    assert all(x >= 1 for x, _ in red) and all(x < 1 for x, _ in blue)
    # each point is its layer's intensity over its own ridge and achieved rate over its own peak
    from costmodel.runtime.predict import memory_slope

    expected = set()
    for r in placed:
        peak, bandwidth = 1 / cal.compute[layers[r.name].kind][1], 1 / memory_slope(layers[r.name], cal)
        intensity, achieved = r.flops / (r.mac * 4), r.flops / (r.measured_ms / 1e3)
        expected.add((round(intensity * bandwidth / peak, 9), round(achieved / peak, 9)))
    assert {(round(x, 9), round(y, 9)) for x, y in offsets} == expected


def test_public_api_is_pinned() -> None:
    assert sorted(costmodel.__all__) == sorted(
        [
            "analyze",
            "formula",
            "Formula",
            "sweep",
            "SweepResult",
            "memory_report",
            "MemoryReport",
            "register",
            "rules_overlay",
            "unregister",
            "AtenCall",
            "OpCost",
            "TensorSpec",
            "ModelInputs",
            "load_model",
            "compare",
            "bench",
            "lint",
            "run_guideline_table",
            "all_theorems",
            "check_layers",
            "check_claim",
            "Report",
            "LayerCost",
            "UncountedOp",
            "CompareRow",
            "BenchReport",
            "LintResult",
            "LintThresholds",
            "ZOO",
            "render",
            "RunSettings",
            "run_analysis",
            "Analysis",
            "plot_compare",
            "plot_layers",
            "plot_roofline",
            "save_png",
            "CostModelError",
            "ModelSpecError",
            "ShapeMismatch",
            "TraceFailure",
            "UncountedOpsError",
        ]
    )
    # every public name resolves to the object its home module defines (lazy ones included), and
    # `import costmodel` does not load sympy or matplotlib until a proof or a plot is asked for
    homes = dict.fromkeys(("all_theorems", "check_layers"), "costmodel.proofs.verify")
    homes["check_claim"] = "costmodel.proofs.conv_claim"
    homes["formula"], homes["Formula"] = "costmodel.symbolic.derive", "costmodel.symbolic.result"
    homes["sweep"], homes["SweepResult"] = "costmodel.sweeps.run", "costmodel.sweeps.result"
    homes["memory_report"], homes["MemoryReport"] = "costmodel.memory.run", "costmodel.memory.result"
    homes |= dict.fromkeys(("plot_compare", "plot_layers", "plot_roofline", "save_png"), "costmodel.render.plots")
    for name, module in homes.items():
        assert getattr(costmodel, name) is getattr(importlib.import_module(module), name)
    for name in costmodel.__all__:
        assert callable(getattr(costmodel, name)) or isinstance(getattr(costmodel, name), dict), name
    code = "import costmodel, sys; print('sympy' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    star: dict[str, object] = {}
    exec("from costmodel import *", star)  # noqa: S102 - the star import must give exactly __all__
    assert set(costmodel.__all__) <= set(star)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["compare_architectures.ipynb", "guidelines.ipynb", "design_space.ipynb"])
def test_notebook_executes(notebook: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("COSTMODEL_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("COSTMODEL_CACHE_DIR", str(tmp_path / "cache"))
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    committed_outputs = [c.get("outputs") for c in nb.cells if c.cell_type == "code"]
    assert all(committed_outputs), "the committed notebook must carry outputs from a real run"
    assert "device: CPU" in str(committed_outputs[0])
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()  # raises on any cell error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs for c in code_cells), "every code cell must show something"
    assert "quick settings" in str(code_cells[0].outputs), "the notebook did not see the test's quick setting"
    # every figure is a real PNG with drawn content, not an empty canvas
    import base64
    import io

    import matplotlib.image

    pngs = [o["data"]["image/png"] for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert pngs
    for png in pngs:
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(png)), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200 and pixels.std() > 0.01
    text = " ".join(str(o) for c in code_cells for o in c.outputs)
    if notebook == "design_space.ipynb":  # the published networks, found in the sweep, cost what analyze says
        for label, name in (("0.5x", "shufflenet_v2_x0_5"), ("1.0x", "shufflenet_v2_x1_0"), ("2.0x", "shufflenet_v2_x2_0")):
            flops = costmodel.analyze(costmodel.ZOO[name](), (1, 3, 224, 224)).totals["flops"]
            assert f"| {label} | {flops / 1e6:.0f}M |" in text, label
        assert "Pareto front (most flops, least mac, least latency)" in text
    if notebook == "compare_architectures.ipynb":
        assert all(name in text for name in costmodel.ZOO), "the comparison table must list every zoo model"
        rhos = [float(x) for x in re.findall(r"Spearman ρ vs measured ([+-][\d.]+)", text)]
        assert len(rhos) == 3 and all(-1 <= r <= 1 for r in rhos)
