"""``costmodel memory`` and ``report --memory`` / ``--mode train``: every format, the measured peak, the
plot, and one-line errors with exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run_main

F32 = 4


def test_memory_json_is_the_timeline_and_csv_lists_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "memory", "resnet18", "--input", "1,3,64,64", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    params = 11_689_512 * F32  # resnet18's published parameter count
    assert data["resident_bytes"]["parameters"] == params and data["resident_bytes"]["inputs"] == 3 * 64 * 64 * F32
    assert data["peak_bytes"] == max(r["peak"] for r in data["timeline"])
    assert data["mode"] == "inference" and data["complete"]
    code, out, _ = run_main(capsys, "memory", "resnet18", "--input", "1,3,64,64", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(data["timeline"]) and {"allocated_bytes", "peak_bytes", "live_after_bytes"} <= set(rows[0])


def test_memory_table_marks_the_peak_and_measure_prints_the_allocator_figure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "memory", "resnet18", "--input", "2,3,64,64", "--measure")
    assert code == 0, err
    assert out.count("◀ peak") == 1 and "peak " in out.splitlines()[1]
    line = next(x for x in out.splitlines() if x.startswith("measured peak"))
    assert "profile_memory" in line and "predicted +0.00%" in line  # exact on this model (tests/memory checks ±5%)
    assert "USDT" not in err and "profiler_start" not in err


def test_training_step_plot_and_report_mode_train(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plot = tmp_path / "memory.png"
    code, out, err = run_main(capsys, "memory", "resnet18", "--input", "2,3,32,32", "--mode", "train", "--optimizer", "sgd",
                              "--plot", str(plot))  # fmt: skip
    assert code == 0, err
    assert plot.stat().st_size > 10_000 and "training step (sgd)" in out
    code, out, err = run_main(capsys, "report", "resnet18", "--input", "2,3,32,32", "--mode", "train", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["optimizer"] == "adam" and data["resident_bytes"]["optimizer state"] > 2 * 11_689_512 * F32
    conv1 = next(r for r in data["layers"] if r["name"] == "conv1")
    # conv1 7x7/2 on 3 channels → 64×16×16: forward N·h'·w'·c2·c1·k²; its input needs no gradient, so the
    # backward computes the weight gradient only, at the forward's cost
    forward = 2 * 16 * 16 * 64 * 3 * 49
    assert conv1["forward_flops"] == conv1["backward_flops"] == forward
    code, out, err = run_main(capsys, "report", "resnet18", "--input", "2,3,32,32", "--mode", "train")
    assert code == 0 and "bwd FLOPs" in out and "backward/forward" in out


def test_report_memory_adds_the_block_and_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "report", "mobilenet_v2", "--input", "1,3,64,64", "--memory", "--format", "json")
    assert code == 0, err
    block = json.loads(out)["memory"]
    code, ref, _ = run_main(capsys, "memory", "mobilenet_v2", "--input", "1,3,64,64", "--format", "json")
    assert block["peak_bytes"] == json.loads(ref)["peak_bytes"]
    code, out, _ = run_main(capsys, "report", "mobilenet_v2", "--input", "1,3,64,64", "--memory")
    assert "Peak memory" in out
    code, out, _ = run_main(capsys, "report", "mobilenet_v2", "--input", "1,3,64,64", "--format", "json")
    assert "memory" not in json.loads(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["memory", "resnet18", "--device", "cuda", "--measure"], "--measure runs the step on this CPU"),
        (["memory", "resnet18", "--optimizer", "lion"], "'lion' is not one of"),
        (["report", "resnet18", "--mode", "train", "--max-flops", "1G"], "apply to the inference report"),
        (["memory", "resnet18", "--input", "1,3,7"], "inputs 1x3x7 do not fit ResNet"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_readme_memory_sample_is_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli.test_cli import assert_block_printed

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    code, out, err = run_main(capsys, "memory", "resnet18", "--input", "8,3,224,224", "--mode", "train", "--measure")
    assert code == 0, err
    assert_block_printed(readme, "`costmodel memory resnet18 --input 8,3,224,224 --mode train --measure`:", out)
