"""``costmodel formula``: expressions per row and in total, the domain and growth lines, --at equal to
``report`` at that size, sweeps with a plot, one-line errors with exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sympy

from tests.cli.test_cli import assert_block_printed, run_main


def test_table_states_totals_domain_and_growth(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "formula", "resnet18", "--input", "1,3,H,W")
    assert code == 0, err
    assert "TOTAL FLOPs = " in out and "floor((H - 1)/32)" in out
    assert "domain (the formula equals `report` exactly wherever all hold): H >= 33; W >= 33" in out
    assert "growth of flops: ~ H*W" in out


def test_at_prints_the_report_at_that_size(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "formula", "resnet18", "--input", "1,3,H,W", "--at", "H=97,W=131", "--format", "json")
    assert code == 0
    code, reference, _ = run_main(capsys, "report", "resnet18", "--input", "1,3,97,131", "--format", "json")
    mine, theirs = json.loads(out), json.loads(reference)
    assert mine["totals"] == theirs["totals"]
    assert [r["flops"] for r in mine["layers"]] == [r["flops"] for r in theirs["layers"]]


def test_outside_the_domain_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "formula", "resnet18", "--input", "1,3,H,W", "--at", "H=20,W=64")
    assert code == 2 and out == ""
    expected = "error: H=20, W=64 is outside the formula's domain: it needs H >= 33 (range and the guards on it alone)"
    assert err.strip().splitlines() == [expected]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--input", "1,3,H,2.5"), "neither a positive integer nor a name"),
        (("--input", "1,3,floor,W"), "cannot name a size"),
        (("--input", "1,3,224,224"), "no input size is a name"),
        (("--input", "1,3,H,W", "--sweep", "H=1:10"), "needs a value for W"),
        (("--input", "1,3,H,W", "--plot", "x.png"), "--plot draws a sweep"),
        (("--input", "1,3,H,W", "--hint", "Q=3"), "a hint for Q"),
    ],
)
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
    code, out, err = run_main(capsys, "formula", "resnet18", *args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) <= 2 and "Traceback" not in err


def test_sweep_csv_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "sweep.png"
    sweep = ("--sweep", "R=16:256:16", "--format", "csv", "--plot", str(plot))
    code, out, err = run_main(capsys, "formula", "shufflenet_v2_x0_5", "--input", "1,3,R,R", *sweep)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["R"] == "48" and len(rows) == 14  # 16 and 32 lie outside R >= 33
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_json_formula_parses_back(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "formula", "mobilenet_v2", "--input", "B,3,H,W", "--format", "json")
    assert code == 0
    data = json.loads(out)
    symbols = {n: sympy.Symbol(n, integer=True, positive=True) for n in data["symbols"]}
    assert data["hints"] == {"B": 2, "H": 224, "W": 224}
    total = sympy.sympify(data["totals"]["flops"], locals=symbols)
    assert total.free_symbols == set(symbols.values())
    assert data["growth"]["flops"]["degrees"] == {"B": 1, "H": 1, "W": 1}


def test_readme_formula_samples_are_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    code, out, _ = run_main(capsys, "formula", "resnet18", "--input", "1,3,H,W", "--top", "2")
    assert code == 0
    assert_block_printed(readme, "`costmodel formula resnet18 --input 1,3,H,W --top 2`", out)
    hybrid = "tests/models/corpus.py:ConvThenGlobalAttention"
    code, out, _ = run_main(capsys, "formula", hybrid, "--input", "1,3,R,R", "--hint", "R=64", "--sweep", "R=32:256:32")
    assert code == 0
    assert_block_printed(readme, "--input 1,3,R,R --hint R=64 --sweep R=32:256:32`", out)
