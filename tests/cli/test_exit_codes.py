"""One exit-code table for every command (0 ok, 2 bad input, 3 a check the user asked for failed,
1 a bug), budgets for CI, paths checked before any work, and results that stay parseable when the
model's own code prints or exits."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from costmodel_cli.options import parse_count

from costmodel.zoo import ZOO
from tests.cli.test_cli import COSTMODEL, run_cli, run_main
from tests.conftest import zoo_model, zoo_report

SHUFFLE = zoo_report("shufflenet_v2_x1_0").totals  # 151,023,976 FLOPs, 2,278,604 params


@pytest.mark.parametrize(
    ("text", "count"), [("300M", 300_000_000), ("2.5G", 2_500_000_000), ("1e9", 10**9), ("150000000", 150_000_000), ("4k", 4000)]
)
def test_counts_take_decimal_suffixes(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize(
    ("flag", "limit", "exit_code"),
    [
        ("--max-flops", "151023976", 0),  # equal to the total: within budget
        ("--max-flops", "151023975", 3),
        ("--max-flops", "100M", 3),
        ("--max-params", "2.3M", 0),
        ("--max-params", "2.2M", 3),
        ("--max-mac", "1G", 0),
        ("--max-mac", "10M", 3),
        ("--max-flops", "lots", 2),
        ("--max-flops", "-5M", 2),
    ],
)
def test_budgets_exit_3_naming_the_figure_and_the_limit(
    capsys: pytest.CaptureFixture[str], flag: str, limit: str, exit_code: int
) -> None:
    code, out, err = run_main(capsys, "report", "shufflenet_v2_x1_0", flag, limit)
    assert code == exit_code, err
    if exit_code == 3:
        figure = {"--max-flops": "FLOPs", "--max-params": "params", "--max-mac": "MAC"}[flag]
        assert figure in err and flag in err and len(err.strip().splitlines()) == 1
        assert "Total FLOPs" in out  # the report is still printed before the verdict
    assert SHUFFLE["flops"] == 151_023_976


def test_compare_budgets_name_each_model_over_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "compare", "resnet18", "resnet50", "shufflenet_v2_x1_0", "--max-params", "20M")
    assert code == 3 and "resnet50" in err and "resnet18" not in err and "shufflenet" not in err


def test_lint_fail_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(capsys, "lint", "shufflenet_v1_g8")[0] == 0  # findings alone are a report, not a failure
    code, _, err = run_main(capsys, "lint", "shufflenet_v1_g8", "--fail-on", "g2")
    assert code == 3 and "G2" in err
    assert run_main(capsys, "lint", "shufflenet_v2_x1_0", "--fail-on", "G2")[0] == 0  # no grouped convs
    assert run_main(capsys, "lint", "shufflenet_v1_g8", "--fail-on", "G9")[0] == 2


def test_a_broken_bound_in_verify_exits_3(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from costmodel.proofs import verify

    real = verify.check_layers

    def one_broken(report: object) -> list[verify.LayerCheck]:
        checks = real(report)  # type: ignore[arg-type]
        first = checks[0]
        return [verify.LayerCheck(first.name, first.op, first.mac, first.mac * 2.0, 0.5, False), *checks[1:]]

    monkeypatch.setattr(verify, "check_layers", one_broken)
    code, _, err = run_main(capsys, "verify", "resnet18", "--input", "1,3,32,32")
    assert code == 3 and "break their proved MAC bound" in err


@pytest.mark.parametrize(
    "args",
    [
        ("report", "shufflenet_v2_x1_0", "--plot", "/no/such/dir/layers.png"),
        ("report", "shufflenet_v2_x1_0", "--plot", "layers.pdf"),
        ("compare", "resnet18", "--plot", "/no/such/dir/c.png"),
        ("bench", "resnet18", "--plot", "/no/such/dir/b.png"),
    ],
)
def test_plot_paths_are_checked_before_any_work(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == "" and "--plot" in err and len(err.strip().splitlines()) == 1


def test_an_impossible_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "report", "resnet18", "--input", "99999,99999,99999,99999")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "elements" in err


def _model_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "user_model.py"
    path.write_text(textwrap.dedent(body))
    return f"{path}:build"


def test_user_code_calling_sys_exit_is_bad_input(tmp_path: Path) -> None:
    in_factory = _model_file(
        tmp_path,
        """
        import sys
        def build():
            sys.exit(7)
        """,
    )
    result = run_cli("report", in_factory, "--input", "1,4")
    assert result.returncode == 2 and "sys.exit(7)" in result.stderr and result.stdout == ""
    (tmp_path / "forward.py").write_text(
        textwrap.dedent(
            """
            import sys
            import torch
            class Quits(torch.nn.Module):
                def forward(self, x):
                    sys.exit(0)
            def build():
                return Quits()
            """
        )
    )
    result = run_cli("report", f"{tmp_path / 'forward.py'}:build", "--input", "1,4")
    assert result.returncode == 2 and "sys.exit(0)" in result.stderr


def test_prints_in_a_forward_go_to_stderr_and_json_stays_parseable(tmp_path: Path) -> None:
    spec = _model_file(
        tmp_path,
        """
        import torch
        print("loading the model")
        class Chatty(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(4, 3)
            def forward(self, x):
                print("in forward", x.shape)
                return self.fc(x)
        def build():
            print("building")
            return Chatty()
        """,
    )
    result = run_cli("report", spec, "--input", "2,4", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["totals"]["flops"] == 2 * 4 * 3  # rows·in·out multiply-adds (bias adds folded, as fvcore)
    assert "in forward" in result.stderr and "building" in result.stderr


def test_a_closed_stdout_is_an_error_not_a_silent_success() -> None:
    code = (
        "import os, sys\n"
        "os.close(1); sys.stdout = None\n"
        "from costmodel_cli.main import main\n"
        "sys.exit(main(['report', 'resnet18', '--input', '1,3,32,32']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=False, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2 and "standard output is closed" in result.stderr


def test_help_lists_the_exit_codes() -> None:
    result = subprocess.run([COSTMODEL, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    flat = " ".join(result.stdout.split())
    assert "Exit codes: 0 success; 2 bad input" in flat and "3 a check you asked for failed" in flat and "1 a bug" in flat


def test_the_api_rejects_what_the_cli_rejects() -> None:
    from torch import nn

    from costmodel import CostModelError, analyze

    with pytest.raises(CostModelError, match="mac_unit"):
        analyze(nn.Linear(4, 3), (2, 4), mac_unit="bits")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="positive integers"):
        analyze(nn.Linear(4, 3), (2, 1.5))


def test_every_option_of_every_command_has_help() -> None:
    from costmodel_cli.main import cli

    missing = [
        f"{name} {param.opts[0]}"
        for name, command in cli.commands.items()
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "help", None)
    ]
    assert missing == []


_EVERY_COMMAND = {
    "report": ["report", "resnet18", "--input", "1,3,32,32"],
    "zoo": ["zoo", "--input", "1,3,32,32"],
    "verify": ["verify", "resnet18", "--input", "1,3,32,32"],
    "bench": ["bench", "resnet18", "--input", "1,3,16,16", "--repeats", "1", "--warmup", "0"],
    "guidelines": ["guidelines", "--no-measure", "--table", "1"],
    "lint": ["lint", "resnet18", "--input", "1,3,32,32"],
    "compare": ["compare", "resnet18", "mobilenet_v2", "--input", "1,3,32,32"],
}


@pytest.mark.parametrize("command", sorted(_EVERY_COMMAND))
def test_every_command_speaks_every_format(capsys: pytest.CaptureFixture[str], command: str) -> None:
    import csv
    import io

    for fmt in ("table", "json", "csv", "markdown"):
        code, out, err = run_main(capsys, *_EVERY_COMMAND[command], "--format", fmt)
        assert code == 0, (command, fmt, err)
        if fmt == "json":
            json.loads(out)
        elif fmt == "csv":
            rows = list(csv.reader(io.StringIO(out)))
            assert len(rows) >= 2 and len({len(r) for r in rows}) == 1, (command, rows[:3])  # one header, rectangular
        elif fmt == "markdown":
            assert "|" in out or out.lstrip().startswith("#")


def test_flops_unit_flops_is_flop_counters_count(capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from costmodel import analyze, load_model

    model = load_model("shufflenet_v2_x1_0")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 3, 224, 224))
    doubled = analyze(model, flops_unit="flops")
    assert doubled.contraction_flops == counter.get_total_flops()  # flop_counter counts 2 per multiply-add
    assert doubled.totals["flops"] == 2 * SHUFFLE["flops"] and doubled.totals["mac"] == SHUFFLE["mac"]
    code, out, _ = run_main(capsys, "report", "shufflenet_v2_x1_0", "--flops-unit", "flops", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["conventions"]["flops"] == "flops" and data["totals"]["flops"] == 2 * SHUFFLE["flops"]
    code, out, _ = run_main(capsys, "report", "shufflenet_v2_x1_0", "--flops-unit", "flops", "--format", "csv")
    assert out.splitlines()[0].split(",")[4:7] == ["flops_2x_multiply_adds", "params", "mac_elements"]
    # a budget is read in the chosen unit: 200M multiply-adds pass, 200M flops do not
    assert run_main(capsys, "report", "shufflenet_v2_x1_0", "--max-flops", "200M")[0] == 0
    assert run_main(capsys, "report", "shufflenet_v2_x1_0", "--max-flops", "200M", "--flops-unit", "flops")[0] == 3
    code, out, _ = run_main(capsys, "compare", "resnet18", "--flops-unit", "flops", "--format", "json")
    assert json.loads(out)["conventions"]["flops"] == "flops"
    with pytest.raises(Exception, match="flops_unit"):
        analyze(model, flops_unit="gigaflops")


def test_bench_shows_the_spread_and_reads_the_eager_gap_by_its_sign(capsys: pytest.CaptureFixture[str]) -> None:
    from costmodel.render.result_views import sum_vs_eager

    bench = ("bench", "resnet18", "--input", "1,3,16,16", "--warmup", "1")
    code, out, _ = run_main(capsys, *bench, "--repeats", "5", "--format", "json")
    layers = json.loads(out)["layers"]
    assert code == 0 and all(row["measured_iqr_ms"] >= 0 for row in layers)
    code, out, _ = run_main(capsys, *bench, "--repeats", "3")
    assert "IQR ms" in out and "Whole model measured (eager)" in out and "(IQR " in out
    assert "interpreter's per-node overhead" in sum_vs_eager({"sum_of_layers_ms": 5.0, "model_measured_ms": 4.0})
    slower = sum_vs_eager({"sum_of_layers_ms": 4.0, "model_measured_ms": 5.0})
    assert "eager run is the slower" in slower and "overhead" not in slower.split(":")[0]


def test_guidelines_without_measuring_print_no_empty_columns_and_state_units(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "guidelines", "--no-measure", "--table", "2")
    header = next(line for line in out.splitlines() if line.startswith("row "))
    assert code == 0 and "meas. ms" not in header and "pred. ms" not in header and "speed" not in header
    assert "units: FLOPs = multiply-adds" in out and "paper GPU = batches/s" in out


def test_the_guidelineverdict_of_states_its_rule() -> None:
    from costmodel.guidelines.experiments import HOLDS_ABOVE_TAU, TableResult, verdict_of

    result = TableResult.__new__(TableResult)
    result.guideline, result.tau_measured, result.tau_mac = "G1", {1: 0.5, 2: 0.2}, {1: 1.0}
    text = verdict_of(result, measured=True)
    assert "holds" in text and f"rule: holds when τ > {HOLDS_ABOVE_TAU}" in text and "+0.35" in text
    result.tau_measured = {1: 0.2, 2: 0.3}
    assert "does not clearly hold" in verdict_of(result, measured=True)


def test_lint_measure_takes_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("lint", "resnet18", "--input", "1,3,16,16", "--measure", "--repeats", "2", "--format", "json")
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    assert "G4" in json.dumps(json.loads(out))


def test_top_means_the_largest_rows_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    report = zoo_report("resnet18")
    largest = sorted(report.layers, key=lambda r: r.flops, reverse=True)[:3]
    code, out, _ = run_main(capsys, "report", "resnet18", "--top", "3", "--format", "json")
    assert code == 0 and [r["flops"] for r in json.loads(out)["layers"]] == [r.flops for r in largest]
    code, out, _ = run_main(capsys, "report", "resnet18", "--top", "2", "--sort", "mac", "--format", "json")
    by_mac = sorted(report.layers, key=lambda r: r.mac, reverse=True)[:2]
    assert [r["mac"] for r in json.loads(out)["layers"]] == [r.mac for r in by_mac]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_group_by_module_is_a_tree_that_adds_up(name: str) -> None:
    from tests.oracles.test_corpus import assert_rows_name_the_model

    report = zoo_report(name)
    assert_rows_name_the_model(report, zoo_model(name))
    tree = report.grouped("module", depth=3)
    assert (tree[0].name, tree[0].level) == ("(model)", 0)
    assert tree[0].count == sum(1 for r in report.layers if r.flops or r.mac or r.params)  # costed rows only
    names = [g.name for g in tree]
    assert "(top level)" not in names  # no pseudo rows: a module's own ops are its rows, by name
    if name == "shufflenet_v2_x1_0":
        by_name = {g.name: g for g in tree}
        assert by_name["stage2"].level == 1 and by_name["stage2.0"].level == 2 and by_name["stage2.0.branch1"].level == 3
        assert by_name["stage2.0.cat"].level == 3  # the unit's own concatenation, beneath it


def test_unicode_module_names_group_in_both_walks() -> None:
    from torch import nn

    from costmodel import analyze

    unicode = nn.Sequential()
    unicode.add_module("卷积", nn.Conv2d(3, 4, 3))
    unicode.add_module("激活", nn.ReLU())
    for fallback in (None, True):
        report = analyze(unicode, (1, 3, 8, 8), fallback=fallback)
        assert [g.name for g in report.grouped("module", 1)] == ["(model)", "卷积", "激活"]
        assert {r.module for r in report.layers} == {"卷积", "激活"}  # joinable with named_modules / state_dict


def test_rows_carry_module_paths_you_can_join_with_named_modules(capsys: pytest.CaptureFixture[str]) -> None:
    from costmodel import load_model
    from costmodel.guidelines.lint import lint

    model = load_model("shufflenet_v1_g3")
    paths = dict(model.named_modules())
    findings = [f for f in lint(model, (1, 3, 64, 64)).findings if f.guideline in ("G1", "G2")]
    assert findings and all(f.module in paths for f in findings)
    args = ("bench", "resnet18", "--input", "1,3,16,16", "--repeats", "1", "--warmup", "0", "--format", "json")
    code, out, _ = run_main(capsys, *args)
    resnet = dict(load_model("resnet18").named_modules())
    modules = [row["module"] for row in json.loads(out)["layers"]]
    assert code == 0 and "layer1.0.conv1" in modules and all(m is None or m in resnet for m in modules)


@pytest.mark.parametrize("command", ["report", "zoo", "verify", "bench", "lint", "compare"])
def test_every_analysing_command_takes_a_dtype(capsys: pytest.CaptureFixture[str], command: str) -> None:
    args = [*_EVERY_COMMAND[command], "--dtype", "float16", "--format", "json"]
    code, out, err = run_main(capsys, *args)
    assert code == 0, err
    data = json.loads(out)
    found = {
        "report": lambda: data["dtype"],
        "zoo": lambda: data["dtype"],
        "bench": lambda: data["device"]["dtype"],
    }
    if command in found:
        assert found[command]() == "float16"


def test_an_interrupt_is_exit_130_with_one_line(tmp_path: Path) -> None:
    raising = _model_file(
        tmp_path,
        """
        from torch import nn
        class Stops(nn.Module):
            def forward(self, x):
                raise KeyboardInterrupt
        def build():
            return Stops()
        """,
    )
    result = run_cli("report", raising, "--input", "1,4")
    assert result.returncode == 130
    assert result.stderr.strip() == "interrupted" and result.stdout == ""


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_during_start_up_is_exit_130_without_a_traceback(signal_name: str) -> None:
    import signal
    import time

    process = subprocess.Popen([COSTMODEL, "zoo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # in the imports (torch takes seconds) or in the analysis: either way an interrupt
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip() == "interrupted" and out == ""


def test_json_is_strict_even_for_non_finite_numbers() -> None:
    from costmodel.render.table import strict_json

    text = strict_json({"rate": float("inf"), "error": [float("nan"), 0.5]})
    assert json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard token {token}")) == {
        "rate": None,
        "error": [None, 0.5],
    }


def test_an_interrupt_while_plotting_leaves_no_partial_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    from costmodel.render.plots import save_png

    def interrupted(*args: object, **kwargs: object) -> None:
        stream = args[1]  # (figure, stream)
        stream.write(b"\x89PNG partial")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", interrupted)
    target = tmp_path / "plot.png"
    with pytest.raises(KeyboardInterrupt):
        save_png(Figure(), target)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary file


def test_version_is_printed_and_exits_0() -> None:
    from importlib.metadata import version

    result = subprocess.run([COSTMODEL, "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == f"costmodel {version('costmodel')}"


def test_a_plot_gets_the_usual_file_mode(tmp_path: Path) -> None:
    import os

    from matplotlib.figure import Figure

    from costmodel.render.plots import save_png

    mask = os.umask(0o022)
    os.umask(mask)
    target = save_png(Figure(), tmp_path / "plot.png")
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_help_answers_without_importing_torch() -> None:
    code = "import sys; from costmodel_cli.main import main; main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Commands:" in out and out.strip().endswith("False")
    from costmodel_cli import commands
    from costmodel_cli.main import COMMAND_HELP, INTERRUPTED

    from costmodel.errors import EXIT_INTERRUPTED

    assert INTERRUPTED == EXIT_INTERRUPTED
    assert [c.name for c in commands.COMMANDS] == list(COMMAND_HELP)
    for command in commands.COMMANDS:  # the group's one-line help is the command's own first line
        assert (command.help or "").startswith(COMMAND_HELP[str(command.name)]), command.name
