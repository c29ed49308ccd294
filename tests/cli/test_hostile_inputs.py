"""Hostile inputs get a report or a one-line error naming the real cause (exit 2; 3 for a failed check;
130 for an interrupt), never "internal error", and outputs stay clean: a model writing to file
descriptor 1 cannot corrupt --format json, --plot targets are checked before any work."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from costmodel import analyze
from costmodel.errors import CostModelError
from costmodel.trace.model_errors import BadModel
from tests.cli.test_cli import COSTMODEL

MODELS = '''
import os
import numpy as np
import torch
from torch import nn

def scripted():
    return torch.jit.script(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))

def lazy():
    return nn.Sequential(nn.LazyLinear(4))

def deep():
    m = nn.Linear(4, 4)
    for _ in range(200):
        m = nn.Sequential(m)
    return m

class UsesNumpy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)
    def forward(self, x):
        return self.l(x) * float(np.abs(x.detach().numpy()).max() + 1)

def numpy_model():
    return UsesNumpy()

class Missing(nn.Module):
    def forward(self, x):
        return torch.ops.notloadedlib.nms(x, x[:, 0], 0.5)

def missing():
    return Missing()

class Writes(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)
    def forward(self, x):
        os.write(1, b"noise from the model\\n")
        print("more noise")
        return self.l(x)

def writes():
    return Writes()

class Unicode(nn.Module):
    def __init__(self):
        super().__init__()
        setattr(self, "свёртка", nn.Linear(4, 4))
    def forward(self, x):
        return getattr(self, "свёртка")(x)

def unicode():
    return Unicode()
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile_models.py"
    path.write_text(textwrap.dedent(MODELS))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COSTMODEL, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("builder", "shape", "message"),
    [
        ("scripted", "1,3,8,8", "TorchScript module"),
        ("lazy", "2,3", "uninitialised (a Lazy module)"),
        ("missing", "3,4", "operator notloadedlib::nms, which no library loaded"),
    ],
)
def test_models_that_cannot_be_analysed_say_why_in_one_line(models: Path, builder: str, shape: str, message: str) -> None:
    result = _run("report", f"{models}:{builder}", "--input", shape)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "internal error" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("builder", "shape", "flops"), [("deep", "2,4", 2 * 4 * 4), ("numpy_model", "2,4", 2 * 4 * 4)])
def test_models_that_run_eagerly_are_costed(models: Path, builder: str, shape: str, flops: int) -> None:
    result = _run("report", f"{models}:{builder}", "--input", shape, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["totals"]["contraction_flops"] == flops  # one 4→4 linear on 2 rows


def test_a_model_writing_to_descriptor_1_cannot_corrupt_json(models: Path) -> None:
    result = _run("report", f"{models}:writes", "--input", "2,4", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["totals"]["contraction_flops"] == 2 * 4 * 4
    assert "noise from the model" in result.stderr and "more noise" in result.stderr
    command = f"{COSTMODEL} report {models}:writes --input 2,4 --format json 2>&-"  # stderr closed
    closed = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=300)
    assert closed.returncode == 0 and json.loads(closed.stdout)["model"].endswith(":writes")


def test_unicode_module_names_stay_unicode_in_json(models: Path) -> None:
    result = _run("report", f"{models}:unicode", "--input", "2,4", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "свёртка" in result.stdout and "\\u" not in result.stdout
    table = _run("report", f"{models}:unicode", "--input", "2,4")
    assert table.returncode == 0 and "свёртка " in table.stdout  # the row is named after the module, not "_"


def test_a_fractional_budget_and_an_unwritable_plot_are_refused_before_any_work() -> None:
    result = _run("report", "shufflenet_v2_x0_5", "--max-flops", "0.5")
    assert result.returncode == 2 and "at least 1" in result.stderr
    result = _run("report", "shufflenet_v2_x0_5", "--max-flops", "1.5")
    assert result.returncode == 2 and "whole count" in result.stderr
    result = _run("report", "shufflenet_v2_x0_5", "--plot", "/proc/costmodel-plot.png")
    assert result.returncode == 2 and "--plot" in result.stderr and result.stdout == ""


def test_a_closed_reader_is_an_error_not_a_success() -> None:
    result = subprocess.run(
        f"{COSTMODEL} report shufflenet_v2_x0_5 --format json | head -c 10 >/dev/null; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "standard output" in result.stderr


@pytest.mark.parametrize("given", ["resnet50", None, 3])
def test_analyze_refuses_what_is_not_a_module(given: object) -> None:
    with pytest.raises(BadModel, match="expected an nn.Module"):
        analyze(given)  # type: ignore[arg-type]


def test_analyze_refuses_scripted_and_lazy_modules_in_one_line() -> None:
    with pytest.raises(CostModelError, match="TorchScript"):
        analyze(torch.jit.script(nn.Linear(4, 4)), (2, 4))
    with pytest.raises(CostModelError, match="Lazy"):
        analyze(nn.LazyLinear(4), (2, 4))


def test_an_integer_analysis_dtype_and_an_overflowing_shape_are_one_line_errors() -> None:
    with pytest.raises(CostModelError, match="not a floating-point dtype"):
        analyze(nn.Linear(4, 4), (2, 4), torch.int8)
    with pytest.raises(CostModelError, match="more than any device holds"):
        analyze(nn.Linear(4, 4), (2**40, 2**40))


def test_a_thread_count_beyond_the_cores_is_refused_before_any_work() -> None:
    result = _run("bench", "shufflenet_v2_x0_5", "--threads", "100000")
    assert result.returncode == 2 and "--threads" in result.stderr and result.stdout == ""


def test_an_empty_input_list_is_named_as_such() -> None:
    with pytest.raises(CostModelError, match="no inputs given"):
        analyze(nn.Linear(4, 4), [])
