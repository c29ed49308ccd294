"""One renderer for every result: each result type prints itself (str, one-line repr, Jupyter HTML) as
the CLI does, CSV cells and unit-bearing column names are the same in every command, and the table
printers write human units unless asked for exact integers."""

from __future__ import annotations

import csv
import html
import io
import json

import pytest
import torch
from costmodel_cli.main import main
from torch import nn

import costmodel
from costmodel.guidelines.experiments import run_tables
from costmodel.proofs.conv_claim import check_claim
from costmodel.proofs.verify import verification
from costmodel.render.table import Column, Document, Table, cell_csv, cell_text, print_document
from tests.conftest import zoo_model, zoo_report


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_result_type_prints_itself_as_the_cli_does() -> None:
    report = zoo_report("resnet18")
    model = zoo_model("shufflenet_v2_x0_5")
    results = [
        report,
        costmodel.compare([("a", model)], (1, 3, 32, 32)),
        costmodel.lint(model, (1, 3, 32, 32)),
        verification(report),
        check_claim("MAC >= B/(h*w)", "n=1,g=1,k=1,s=1"),
        run_tables([1], measure=False, widths=(1,)),
    ]
    for result in results:
        printed = str(result)
        assert printed == costmodel.render(result) and printed.strip()
        assert "\n" not in repr(result) and repr(result).startswith("<")
        assert result._repr_html_() == f"<pre>{html.escape(printed)}</pre>"
        assert json.loads(result.table("json")) is not None
    with pytest.raises(ValueError, match="format must be one of"):
        costmodel.render(report, "yaml")


def test_csv_cells_and_column_names_agree_across_commands(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = {}
    for args in (
        ["report", "resnet18"],
        ["zoo"],
        ["compare", "resnet18", "mobilenet_v2"],
        ["report", "resnet18", "--group-by", "module"],
    ):
        assert main([*args, "--format", "csv"]) == 0
        outputs[" ".join(args)] = _rows(capsys.readouterr().out)
    for command, rows in outputs.items():
        columns = set(rows[0])
        assert "flops_multiply_adds" in columns and "mac_elements" in columns and "params" in columns, command
        for flag in ("counted", "complete"):
            assert {r[flag] for r in rows if flag in r} <= {"true", "false", ""}, (command, flag)
        for row in rows:  # counts are exact integers in CSV, never human units
            assert row["flops_multiply_adds"] == "" or row["flops_multiply_adds"].isdigit(), (command, row)
    zoo = {r["model"]: r for r in outputs["zoo"]}
    report_total = next(r for r in outputs["report resnet18"] if r["name"] == "TOTAL")
    assert zoo["resnet18"]["flops_multiply_adds"] == report_total["flops_multiply_adds"]
    assert zoo["resnet18"]["mac_elements"] == report_total["mac_elements"]


def test_tables_write_human_units_unless_exact() -> None:
    report = zoo_report("resnet18")
    first = next(r for r in report.layers if r.flops)
    flat = {"top": 1, "group_by": "layer"}
    assert f"{first.flops:,}" not in report.table(**flat) and "118.0M" in report.table(**flat)
    assert f"{first.flops:,}" in report.table(**flat, exact=True)
    count, flag = Column("n", "n", "count"), Column("ok", "ok", "bool")
    assert cell_text(1_234_567, count) == "1.23M" and cell_text(1_234_567, count, exact=True) == "1,234,567"
    assert (cell_text(True, flag), cell_csv(True), cell_csv(False), cell_csv(None), cell_csv(float("nan"))) == (
        "yes",
        "true",
        "false",
        "",
        "",
    )


def test_csv_of_several_tables_keeps_every_column_once() -> None:
    a = Table([Column("x", "x", "int"), Column("y", "y", "int")], [[1, 2]], title="first")
    b = Table([Column("x", "x", "int"), Column("z", "z", "text")], [[3, "c"]], title="second")
    rows = _rows(print_document(Document([], [a, b], [], {}), "csv"))
    assert rows == [{"table": "first", "x": "1", "y": "2", "z": ""}, {"table": "second", "x": "3", "y": "", "z": "c"}]


class _Untraceable(nn.Module):
    """Three parallel convs behind data-dependent control flow: only the aten-level walk can cost it."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleDict({f"b{i}": nn.Conv2d(4, 4, 3, padding=1) for i in range(3)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.abs().sum() >= 0:  # always true; fx cannot trace the branch
            x = sum(conv(x) for conv in self.block.values())
        return x


def test_lint_works_on_every_model_report_works_on() -> None:
    model = _Untraceable()
    report = costmodel.analyze(model, (1, 4, 8, 8))
    assert report.walk == "aten"
    result = costmodel.lint(model, (1, 4, 8, 8), thresholds=costmodel.LintThresholds(block_depth=1))
    assert result.summary["G3"]["max_parallel_branches"] == 3  # from the aten walk's dataflow
    assert [f.where for f in result.findings if f.guideline == "G3"] == ["block"]


def test_the_engine_returns_graph_report_and_dataflow() -> None:
    analysis = costmodel.run_analysis(zoo_model("resnet18"), (1, 3, 32, 32))
    assert analysis.walk == "fx" and analysis.traced is not None
    names = [r.name for r in analysis.report.layers]
    assert set(analysis.reads) == set(names)
    assert all(set(read) <= set(names) for read in analysis.reads.values())
    fallback = costmodel.run_analysis(zoo_model("resnet18"), (1, 3, 32, 32), fallback=True)
    assert fallback.traced is None and fallback.report.totals == analysis.report.totals

    # both walks see the same longest chain of convs (the residual blocks' depth)
    def chain(a: costmodel.Analysis) -> int:
        depth: dict[str, int] = {}
        for row in a.report.layers:
            depth[row.name] = max((depth[n] for n in a.reads[row.name]), default=0) + (row.family == "conv")
        return max(depth.values())

    assert chain(fallback) == chain(analysis) == 17


def test_every_result_becomes_a_dataframe_of_its_csv() -> None:
    pandas = pytest.importorskip("pandas")
    report = zoo_report("resnet18")
    frame = report.to_dataframe()
    layers = frame[frame["name"] != "TOTAL"]
    assert list(layers["name"]) == [r.name for r in report.layers]
    assert int(layers["flops_multiply_adds"].sum()) == report.totals["flops"]
    assert set(layers["counted"]) == {True}  # CSV true/false read back as booleans
    tree = report.to_dataframe(group_by="module", depth=1)
    assert tree.iloc[0]["module"] == "(model)" and int(tree.iloc[0]["mac_elements"]) == report.totals["mac"]
    assert isinstance(costmodel.compare([("r", zoo_model("resnet18"))], (1, 3, 32, 32)).to_dataframe(), pandas.DataFrame)
