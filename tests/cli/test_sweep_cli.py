"""``costmodel sweep``: the table of the front, every candidate in CSV/JSON equal to ``report``, failures
as rows, a stream that resumes, a plot, one-line errors with exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run_main

BUILDER = "tests.sweeps.builders:grouped_net"


def test_json_rows_equal_report_for_every_candidate(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", BUILDER, "--grid", "width=8,12", "--grid", "groups=1,2,3", "--input", "1,3,20,20", "--workers", "1"]
    code, out, err = run_main(capsys, *args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["axes"] == ["width", "groups"] and len(data["candidates"]) == 6
    for row in data["candidates"]:
        knobs = row["values"]
        if knobs["width"] % knobs["groups"]:
            assert row["status"] == "failed" and row["error"].startswith("building failed:")
            continue
        code, ref, _ = run_main(capsys, "report", _one_off(knobs), "--input", "1,3,20,20", "--format", "json")
        totals = json.loads(ref)["totals"]
        assert (row["flops"], row["mac"], row["params"]) == (totals["flops"], totals["mac"], totals["params"])
    assert sorted(data["front"]) == sorted(r["index"] for r in data["candidates"] if r["front"])


_MADE: dict[str, str] = {}


def _one_off(knobs: dict[str, object]) -> str:
    """A ``package.module:callable`` spec that builds grouped_net with these knobs and no arguments."""
    import sys
    import types

    from tests.sweeps.builders import grouped_net

    name = "sweep_cli_one_off_" + "_".join(f"{k}{v}" for k, v in knobs.items())
    module = types.ModuleType(name)
    module.build = lambda: grouped_net(**knobs)  # type: ignore[attr-defined]
    sys.modules[name] = module
    return f"{name}:build"


def test_table_shows_the_front_and_failures_and_csv_every_candidate(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", BUILDER, "--grid", "width=8,16", "--grid", "depth=0,1,2", "--input", "1,3,16,16", "--workers", "1"]
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    assert "Pareto front (most flops, least mac)" in out and "building failed: ValueError: depth must be at least 1" in out
    code, out, _ = run_main(capsys, *args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok", "failed"}
    assert {"width", "depth", "flops_multiply_adds", "mac_elements", "front", "error"} <= set(rows[0])


def test_save_then_resume_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stream, plot = tmp_path / "s.jsonl", tmp_path / "front.png"
    base = ["sweep", "shufflenet_v2", "--grid", "width=0.5,1.0", "--grid", "R=64,96,128", "--input", "1,3,R,R"]
    code, first, err = run_main(capsys, *base, "--save", str(stream), "--format", "json", "--plot", str(plot))
    assert code == 0, err
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
    lines = stream.read_text().splitlines()
    stream.write_text("\n".join(lines[:3]) + "\n")  # the first two rows only
    code, again, err = run_main(capsys, *base, "--resume", str(stream), "--format", "json")
    assert code == 0, err
    keep = ("index", "values", "flops", "mac", "params", "findings", "front")
    strip = lambda data: [{k: r[k] for k in keep} for r in data["candidates"]]  # noqa: E731
    assert strip(json.loads(again)) == strip(json.loads(first)) and json.loads(again)["resumed"] == 2
    assert len(stream.read_text().splitlines()) == 1 + 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope_space", "--grid", "width=1"], "unknown builder 'nope_space'"),
        ([BUILDER, "--grid", "width"], "write NAME=V1,V2"),
        ([BUILDER, "--grid", "width=8", "--input", "1,3,R,R"], "the input size 'R' is not an axis"),
        ([BUILDER, "--grid", "width=8", "--save", "a.jsonl", "--resume", "b.jsonl"], "not both"),
    ],
)
def test_bad_sweeps_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run_main(capsys, "sweep", *args)
    assert code == 2 and out == ""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert message in err and len(lines) <= 3, err  # click's usage lines may precede a usage error
    assert "Traceback" not in err


def test_readme_sweep_sample_is_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli.test_cli import assert_block_printed

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    args = ["sweep", "shufflenet_v2", "--grid", "width=0.5,1.0,2.0", "--grid", "split=0.5,0.75"]
    args += ["--grid", "depth=[4,8,4],[2,4,2]"]
    code, out, err = run_main(capsys, *args, "--input", "1,3,224,224", "--workers", "2")
    assert code == 0, err
    assert_block_printed(readme, '"depth=[4,8,4],[2,4,2]" --input 1,3,224,224`:', out)
