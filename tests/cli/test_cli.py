"""The CLI through its real entry point (the installed ``costmodel`` script) and in-process ``main``."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from costmodel_cli.main import main

from tests.conftest import MODELS, zoo_report

COSTMODEL = shutil.which("costmodel") or str(Path(sys.executable).parent / "costmodel")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a user would."""
    return subprocess.run([COSTMODEL, *args], capture_output=True, text=True, timeout=120)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_through_entry_point() -> None:
    result = run_cli("report", "shufflenet_v2_x0_5")
    assert result.returncode == 0, result.stderr
    report = zoo_report("shufflenet_v2_x0_5")
    assert "FLOPs = multiply-adds" in result.stdout
    assert f"Total FLOPs {report.totals['flops']:,}" in result.stdout
    assert "Uncounted ops: none" in result.stdout
    assert "· · stage2.0 " in result.stdout  # the module tree by default
    flat = run_cli("report", "shufflenet_v2_x0_5", "--flat")
    assert flat.returncode == 0 and "stage2.0.branch2.5 " in flat.stdout


def test_json_through_entry_point_equals_to_dict() -> None:
    result = run_cli("report", "shufflenet_v2_x0_5", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == zoo_report("shufflenet_v2_x0_5").to_dict()


def test_csv_rows_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "report", "resnet18", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    report = zoo_report("resnet18")
    assert [r["name"] for r in rows[:-1]] == [layer.name for layer in report.layers]
    total = rows[-1]
    assert int(total["flops_multiply_adds"]) == report.totals["flops"] and int(total["mac_elements"]) == report.totals["mac"]


def test_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "report", "resnet18", "--format", "markdown", "--top", "3", "--sort", "flops", "--flat")
    assert code == 0
    table_rows = [line for line in out.splitlines() if line.startswith("| ") and "name" not in line]
    assert len(table_rows) == 3
    assert "- Uncounted ops: none" in out


def test_group_by_and_sort(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "report", "resnet18", "--group-by", "op", "--sort", "flops", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["op"] == "Conv2d"
    flops = [int(r["flops_multiply_adds"]) for r in rows if r["counted"] == "true"]
    assert flops == sorted(flops, reverse=True)
    assert sum(flops) == zoo_report("resnet18").totals["flops"]


def test_uncounted_listed_in_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{MODELS / 'custom.py'}:upsample_net"
    for fmt in ("table", "markdown", "csv", "json"):
        code, out, _ = run_main(capsys, "report", spec, "--input", "1,3,4,4", "--format", fmt)
        assert code == 0
        assert "mystery" in out and "costmodel_test::mystery" in out, fmt


@pytest.mark.parametrize("command", ["verify", "lint", "compare", "bench"])
@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_uncounted_listed_by_every_command(capsys: pytest.CaptureFixture[str], command: str, fmt: str) -> None:
    spec = f"{MODELS / 'custom.py'}:upsample_net"
    extra = ["--repeats", "2", "--warmup", "0"] if command == "bench" else []
    code, out, err = run_main(capsys, command, spec, "--input", "1,3,4,4", "--format", fmt, *extra)
    assert "costmodel_test::mystery" in out, (command, fmt, out[-300:], err)


def test_strict_fails_on_uncounted(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "report", f"{MODELS / 'custom.py'}:upsample_net", "--input", "1,3,4,4", "--strict")
    assert code == 3 and "mystery (costmodel_test::mystery)" in err and len(err.strip().splitlines()) == 1


def test_package_module_spec(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "report", "tests.models.custom:functional_net", "--input", "1,3,8,8")
    assert code == 0 and "conv2d" in out


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("shufflenet_v2_x1", "did you mean shufflenet_v2_x1_5, shufflenet_v2_x1_0"),
        ("no/such/file.py:build", "does not exist"),
        (f"{MODELS / 'custom.py'}:missing", "has no attribute 'missing'"),
        (f"{MODELS / 'custom.py'}:not_a_module", "returned int, not an nn.Module"),
        (f"{MODELS / 'custom.py'}:NOT_CALLABLE", "is not callable"),
        (f"{MODELS / 'custom.py'}:raises", "calling raises() failed: RuntimeError: boom"),
        ("no_such_package_xyz.models:build", "cannot import module 'no_such_package_xyz.models'"),
    ],
)
def test_bad_model_specs(capsys: pytest.CaptureFixture[str], spec: str, needle: str) -> None:
    code, out, err = run_main(capsys, "report", spec)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_wrong_input_shape_names_the_layer_through_entry_point() -> None:
    result = run_cli("report", "resnet18", "--input", "1,4,224,224")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "layer 'conv1'" in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_traceback() -> None:
    result = run_cli("report", "resnet18", "--input", "1,4,224,224", "--debug")
    assert result.returncode == 2 and "Traceback" in result.stderr


@pytest.mark.parametrize("shape", ["1,a,2", "0,3,224,224", ""])
def test_bad_input_option(capsys: pytest.CaptureFixture[str], shape: str) -> None:
    code, _, err = run_main(capsys, "report", "resnet18", "--input", shape)
    assert code == 2 and "--input" in err and len(err.strip().splitlines()) == 1


def test_untraceable_model_falls_back_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "report", f"{MODELS / 'custom.py'}:branchy_net", "--input", "1,3,4,4", "--format", "json")
    notes = json.loads(out)["notes"]
    assert code == 0 and "cannot trace" in notes[0] and "if x.sum() > 0" in notes[0]


def test_zoo_lists_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "zoo")
    assert code == 0
    from costmodel.zoo import ZOO

    for name in ZOO:
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "2.28M" in out and "144.9M" in out  # shufflenet_v2_x1_0: params and conv+fc FLOPs


def test_table_hides_shape_only_rows_unless_all(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "report", "shufflenet_v2_x0_5", "--flat")
    assert code == 0
    ops = {line.split()[0].rsplit(".", 1)[-1] for line in out.splitlines() if line.strip()}
    assert "getitem" not in ops and "contiguous" in ops
    hidden = sum(1 for r in zoo_report("shufflenet_v2_x0_5").layers if r.flops == r.mac == r.params == 0)
    assert f"{hidden} shape-only nodes" in out
    code, out, _ = run_main(capsys, "report", "shufflenet_v2_x0_5", "--all", "--flat")
    assert "getitem" in {line.split()[0].rsplit(".", 1)[-1] for line in out.splitlines() if line.strip()}


def assert_block_printed(readme: str, marker: str, printed: str) -> None:
    """The code block after ``marker`` in README: its lines ('...' aside) appear in ``printed`` in order."""
    after = readme[readme.index(marker) :]
    block = after[after.index("```") + 4 :]
    lines = [line for line in block[: block.index("```")].splitlines() if not line.startswith("$ ")]
    out = printed.splitlines()
    position = 0
    for line in lines:
        if line == "...":
            continue
        assert line in out[position:], line
        position = out.index(line, position) + 1


def test_readme_samples_match_what_the_tool_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """README.md's sample output must stay true: its report summary lines and zoo table are real output."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert main(["report", "shufflenet_v2_x1_0"]) == 0  # the module tree, printed whole in the README
    assert_block_printed(readme, "prints the module tree", capsys.readouterr().out)
    assert main(["report", "shufflenet_v2_x1_0", "--flat"]) == 0  # an excerpt of the flat rows, in order
    assert_block_printed(readme, "`--flat` prints one row per layer", capsys.readouterr().out)
    # verify: every line of the README's block is printed, in order ('...' stands for omitted lines)
    assert main(["verify", "shufflenet_v2_x1_0", "--top", "4"]) == 0
    assert_block_printed(readme, "`costmodel verify shufflenet_v2_x1_0 --top 4`", capsys.readouterr().out)
    claim = ["verify", "--claim", "MAC >= 2*sqrt(h*w*B) + B/(h*w) + h*w*c1", "--where", "n=1,g=1,k=1,s=1"]
    assert main(claim) == 3
    assert_block_printed(readme, "is proved or refuted the same way", capsys.readouterr().out)
    assert main(["zoo"]) == 0
    zoo_out = capsys.readouterr().out.splitlines()
    for name in ("shufflenet_v2_x1_0", "shufflenet_v1_g8", "resnet50"):
        pattern = re.compile(rf"^\s*{name}\s+[\d.]+[KMG]\s")  # a zoo-table row: name, then params
        sample = next(line for line in readme.splitlines() if pattern.match(line))
        assert sample in zoo_out, sample


def test_fallback_through_cli(capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"{MODELS / 'custom.py'}:always_branch_net"
    code, out, _ = run_main(capsys, "report", spec, "--input", "1,3,8,8", "--format", "json")
    assert code == 0 and json.loads(out)["walk"] == "aten"
    code, out, _ = run_main(capsys, "report", spec, "--input", "1,3,8,8", "--fallback", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["uncounted"] == []
    assert [r["name"] for r in data["layers"] if r["op"] == "Conv2d"] == ["conv"]
    assert data["totals"]["params"] == 260 and any("aten-level walk" in n for n in data["notes"])


_TYPES = {"int": int, "number": (int, float), "str": str, "bool": bool, "null": type(None)}


def _matches(value: object, schema: object, where: str) -> None:
    """``value`` has exactly the keys ``schema`` lists (``key?``: optional) and the types it names."""
    if isinstance(schema, dict):
        assert isinstance(value, dict), where
        required = {k for k in schema if not k.endswith("?")}
        known = {k.rstrip("?"): v for k, v in schema.items()}
        assert required <= set(value) <= set(known), (where, sorted(set(value) ^ set(known)))
        for key, item in value.items():
            _matches(item, known[key], f"{where}.{key}")
    elif isinstance(schema, list):
        assert isinstance(value, list), where
        for item in value:
            _matches(item, schema[0], f"{where}[]")
    else:
        options = [part.strip() for part in str(schema).split("|")]
        if all(option in _TYPES for option in options):
            numeric_bool = isinstance(value, bool)  # a bool is an int to Python, not to JSON readers
            ok = any(isinstance(value, _TYPES[o]) and not (o in ("int", "number") and numeric_bool) for o in options)
            assert ok, (where, value)
        else:  # an enumeration of literal values
            assert value in options, (where, value)


def test_readme_json_schema_is_every_key_the_tool_writes(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    after = readme[readme.index("`report --format json` (and `Report.to_dict()`)") :]
    schema = json.loads(after[after.index("```json") + 7 : after.index("```", after.index("```json") + 7)])
    corpus = MODELS / "corpus.py"
    runs = [
        ["report", "shufflenet_v2_x0_5", "--group-by", "module"],
        ["report", f"{MODELS / 'custom.py'}:UpsampleNet", "--input", "1,3,4,4"],  # an uncounted op
        ["report", f"{corpus}:TinyViT", "--input", "2,3,32,32", "--group-by", "op"],  # attention: mac_unfused
        ["report", f"{MODELS / 'custom.py'}:always_branch_net", "--input", "1,3,8,8"],  # the aten walk
    ]
    seen: set[str] = set()
    for args in runs:
        assert main([*args, "--format", "json"]) == 0
        data = json.loads(capsys.readouterr().out)
        _matches(data, schema, args[1])
        seen |= set(data)
        seen |= {f"layers.{k}" for row in data["layers"] for k, v in row.items() if v is not None}
    assert {"groups", "layers.mac_unfused", "layers.reason"} <= seen  # the optional and nullable ones were exercised
