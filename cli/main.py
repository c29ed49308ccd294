"""``costmodel``: a thin click layer over the library — parse, call, render; errors as one line."""

from __future__ import annotations

import contextlib
import decimal
import functools
import io
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import click

from costmodel import CostModelError, analyze, load_model
from costmodel.analyze import MacUnit
from costmodel.errors import EXIT_BAD_INPUT, EXIT_BUG, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, CheckFailed
from costmodel.inputs import DTYPES, ModelInputs, parse_input_option
from costmodel.measure import require_device, threads_problem
from costmodel.render import Format, human, render_report, render_verification
from costmodel.report import GroupBy, SortKey
from costmodel.zoo import ZOO

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 2 bad input (model spec, shape, option, path; a model fx and the aten walk "
    "cannot run; the model's own code calling sys.exit or raising; an unreadable --claim); 3 a check you asked "
    "for failed (a MAC bound that does not hold, a --claim refuted or unproved, --max-flops/--max-mac/"
    "--max-params exceeded, lint --fail-on findings, uncounted ops under --strict); "
    "130 interrupted (Ctrl-C or SIGTERM); 1 a bug in costmodel."
)

#: The real standard output while a command runs (its body writes user code's prints to stderr).
_RESULT_STREAM: list[Any] = []


def emit(text: str) -> None:
    """Write a command's result to the real standard output: machine formats stay parseable when the
    model's code prints. A closed or broken stdout is a one-line error, not a silent success."""
    stream = _RESULT_STREAM[-1] if _RESULT_STREAM else sys.stdout
    if stream is None or getattr(stream, "closed", False):
        raise CostModelError("standard output is closed: the result cannot be written")
    try:
        click.echo(text, file=stream)
        stream.flush()
    except (OSError, ValueError) as exc:
        raise CostModelError(f"cannot write the result to standard output ({exc})") from None


def _user_output_to_stderr(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body with everything the model's code writes going to stderr (``print``, and on the
    real stdout also file descriptor 1: ``os.write(1, …)``, C extensions); results go out through
    ``emit``. With stderr closed, the model's output is discarded instead."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _results_stream() as results:
            _RESULT_STREAM.append(results)
            try:
                with contextlib.redirect_stdout(sys.stderr if sys.stderr is not None else io.StringIO()):
                    return func(*args, **kwargs)
            finally:
                _RESULT_STREAM.pop()

    return wrapper


def _high_dup(fd: int) -> int:
    """A duplicate of ``fd`` numbered 10 or above (never 0–2, which the model's code may write to)."""
    try:
        import fcntl

        return int(fcntl.fcntl(fd, fcntl.F_DUPFD, 10))
    except (ImportError, OSError):
        return os.dup(fd)


@contextlib.contextmanager
def _results_stream() -> Iterator[Any]:
    """The stream results are written to. On the process's real stdout (fd 1), fd 1 itself is pointed at
    stderr (or /dev/null when stderr is closed) meanwhile and results go to a duplicate of the original,
    so nothing the model writes at the descriptor level can reach a --format json result."""
    stdout = sys.stdout
    try:
        at_fd_1 = stdout is not None and stdout is sys.__stdout__ and stdout.fileno() == 1  # type: ignore[union-attr]
    except (OSError, ValueError, AttributeError):
        at_fd_1 = False
    if not at_fd_1:
        yield stdout
        return
    stdout.flush()
    try:
        os.fstat(2)
        stderr_open = True
    except OSError:
        stderr_open = False
    saved = _high_dup(1)  # above 2: with stderr closed, a plain dup would take descriptor 2
    devnull = os.open(os.devnull, os.O_WRONLY)
    sink = _high_dup(devnull)
    os.close(devnull)
    try:
        os.dup2(2 if stderr_open else sink, 1)
        results = open(saved, "w", encoding=stdout.encoding, errors=stdout.errors, closefd=False)  # noqa: SIM115
        try:
            yield results
        finally:
            with contextlib.suppress(OSError, ValueError):
                results.flush()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)


def _plot_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a --plot path before any work: a .png in an existing, writable directory."""
    if value is None:
        return None
    path = Path(value)
    if path.suffix.lower() != ".png":
        raise click.BadParameter(f"'{value}': plots are PNG files; give a path ending in .png")
    folder = path.parent
    if not folder.is_dir():
        raise click.BadParameter(f"'{value}': the directory '{folder}' does not exist")
    if path.is_dir():
        raise click.BadParameter(f"'{value}' is a directory")
    try:  # a real write test: os.access says yes to root everywhere, /proc included
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise click.BadParameter(f"'{value}': cannot write in '{folder}' ({exc.strerror or exc})") from None
    return value


def _threads_checked(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """--threads within 1 … the cores available, checked before any work."""
    problem = threads_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def _threads_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--threads``: 1 … the cores available, checked before any work."""
    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        callback=_threads_checked,
        help=f"{what}; at most the cores available.",
    )


def _write_plot(figure: Any, path: str) -> None:
    """Save a figure atomically; a failed write (full disk, the folder gone) is one line, exit 2."""
    from costmodel.plots import save_png

    try:
        save_png(figure, path)
    except OSError as exc:
        raise CostModelError(f"cannot write the plot to {path} ({exc.strerror or exc})") from None


_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_count(text: str) -> int:
    """'300M', '2.5G', '1e9' or '150000000' → an integer count (decimal suffixes K, M, G, T)."""
    body = text.strip().upper()
    suffix = body[-1] if body and body[-1] in _SUFFIXES else ""
    number = body[: len(body) - len(suffix)]
    try:
        value = decimal.Decimal(number) * _SUFFIXES[suffix]  # exact: 2.5G is 2,500,000,000, not a float near it
    except (decimal.InvalidOperation, ValueError):
        raise click.BadParameter(f"'{text}' is not a count like 300M, 2.5G or 150000000") from None
    if not value.is_finite() or value < 1:  # also refuses NaN
        raise click.BadParameter(f"'{text}' must be a count of at least 1")
    if value != value.to_integral_value():
        raise click.BadParameter(f"'{text}' is not a whole count ({value} of them)")
    return int(value)


def _budget_options(func: Callable[..., Any]) -> Callable[..., Any]:
    budgets = (("params", "parameters"), ("mac", "memory access (MAC, in the report's unit)"), ("flops", "FLOPs (multiply-adds)"))
    for name, what in budgets:
        func = click.option(
            f"--max-{name}",
            f"max_{name}",
            default=None,
            callback=lambda ctx, param, value: None if value is None else parse_count(value),
            help=f"Exit 3 if the model's total {what} exceeds this (e.g. 300M, 2.5G).",
        )(func)
    return func


def check_budgets(model: str, totals: dict[str, Any], limits: dict[str, int | None], mac_unit: str = "elements") -> None:
    """Raise CheckFailed naming every total above its limit (``limits``: flops/mac/params → count or None)."""
    labels = {"flops": "FLOPs (multiply-adds)", "mac": f"MAC (memory access, {mac_unit})", "params": "params"}
    over = [
        f"{labels[key]} {human(totals[key])} ({totals[key]:,}) > --max-{key} {human(limit)}"
        for key, limit in limits.items()
        if limit is not None and totals[key] > limit
    ]
    if over:
        raise CheckFailed(f"{model}: over budget: " + "; ".join(over))


FORMATS = click.Choice(["table", "json", "csv", "markdown"])
_FORMAT_HELP = "Output: an aligned table, JSON, CSV (one row per line, units in the column names) or Markdown."


def progress_bar(total: int, what: str, active: bool = True) -> Any:
    """A tqdm bar on stderr for a measurement: shown on a terminal only (off in pipes, logs and CI)."""
    from tqdm import tqdm

    unit = "run" if what == "timing" else what
    return tqdm(total=total, desc=what, unit=unit, disable=None if active else True, file=sys.stderr)


def _guidelines(text: str) -> tuple[str, ...]:
    """'G1,g2' → ('G1', 'G2'); each must be one of G1–G4."""
    names = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in ("G1", "G2", "G3", "G4")]
    if unknown:
        raise click.BadParameter(f"unknown guideline {', '.join(unknown)}: use G1, G2, G3, G4")
    return names


def parse_shape(text: str) -> tuple[int, ...]:
    """'1,3,224,224' (or 1x3x224x224) → (1, 3, 224, 224); positive integers only."""
    try:
        name, spec = parse_input_option(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if name is not None or spec.dtype is not None:
        raise click.BadParameter(f"'{text}': this command takes one plain shape, e.g. 1,3,224,224")
    return spec.shape


def parse_inputs(values: tuple[str, ...]) -> Any:
    """Repeatable ``--input``: each '1,3,224,224', '1,77:int64' or 'name=1,77:int64'. One plain shape
    stays a shape tuple; otherwise ModelInputs (unnamed ones positional, in order; named ones keywords)."""
    if not values:
        return (1, 3, 224, 224)
    try:
        parsed = [parse_input_option(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if len(parsed) == 1 and parsed[0][0] is None and parsed[0][1].dtype is None:
        return parsed[0][1].shape
    args = tuple(spec for name, spec in parsed if name is None)
    kwargs = {name: spec for name, spec in parsed if name is not None}
    return ModelInputs(args, kwargs)


def _shape_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--input",
        "input_shape",
        multiple=True,
        callback=lambda ctx, param, value: parse_inputs(value),
        help="An input tensor: shape '1,3,224,224' (default), with a dtype '1,77:int64', or a keyword input "
        "'mask=1,77:bool'. Repeat for several inputs (unnamed ones are positional, in order).",
    )(func)


def _flops_unit_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--flops-unit",
        type=click.Choice(["multiply-adds", "flops"]),
        default="multiply-adds",
        show_default=True,
        help="Count FLOPs as multiply-adds (the paper's, fvcore's, and what thop/ptflops call MACs) or as "
        "flops = 2 × multiply-adds (torch.utils.flop_counter's). --max-flops is in the same unit.",
    )(func)


def _dtype_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--dtype",
        "dtype_name",
        type=click.Choice(["float32", "float16", "bfloat16"]),
        default="float32",
        show_default=True,
        help="Analyse the model at this dtype (floating parameters and inputs; the model file is not changed).",
    )(func)


def _single_shape(value: Any, command: str) -> tuple[int, ...]:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return value
    raise click.BadParameter(f"{command} measures real runs and takes one plain input shape, e.g. --input 1,3,224,224")


def _runtime_options(repeats: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--device, --threads and --repeats, shared by every command that measures."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--repeats",
            type=click.IntRange(min=1),
            default=repeats,
            show_default=True,
            help="Timed runs per measurement; figures are medians (the spread is shown beside them).",
        )(func)
        func = _threads_option("CPU threads, fixed for the whole run (restored afterwards)")(func)
        return click.option(
            "--device",
            type=click.Choice(["cpu", "cuda"]),
            default="cpu",
            show_default=True,
            help="Where to measure; cuda needs a visible GPU (checked first).",
        )(func)

    return decorate


def _debug_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--debug", is_flag=True, help="Show the full traceback on errors.")(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="costmodel", message="%(prog)s %(version)s")
@_debug_option
def cli(debug: bool) -> None:
    """What a CNN really costs, layer by layer: FLOPs (multiply-adds), params and memory access cost."""


@cli.command()
@click.argument("model")
@_shape_option
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP)
@click.option(
    "--group-by",
    type=click.Choice(["layer", "module", "op"]),
    default="layer",
    show_default=True,
    help="One row per layer (fx node), per module prefix (see --depth) or per op type, with summed costs.",
)
@click.option(
    "--depth", type=click.IntRange(min=1), default=2, show_default=True, help="Module-name depth for --group-by module."
)
@click.option("--sort", type=click.Choice(["flops", "mac", "params"]), default=None, help="Sort rows, largest first.")
@click.option(
    "--top", type=click.IntRange(min=1), default=None, help="Show only the N rows with the most FLOPs (or of the --sort key)."
)
@click.option("--strict", is_flag=True, help="Fail if any op cannot be costed.")
@click.option("--all", "show_all", is_flag=True, help="Also show shape-only rows (0 FLOPs, 0 MAC) in tables.")
@click.option(
    "--mac-unit",
    type=click.Choice(["elements", "bytes"]),
    default="elements",
    show_default=True,
    help="Count memory access (MAC) in tensor elements, or in bytes (elements × the dtype's size).",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    callback=_plot_path,
    help="Also draw per-layer FLOPs and MAC (with the bound) along depth to this PNG.",
)
@click.option(
    "--fallback",
    is_flag=True,
    help="Cost with the aten-level walk (one op per row) even where torch.fx can trace MODEL; "
    "without it that walk runs only where fx fails.",
)
@click.option("--expand", is_flag=True, help="Show the aten ops under each row (tables; JSON always has them).")
@_budget_options
@_flops_unit_option
@_dtype_option
@_debug_option
@_user_output_to_stderr
def report(
    model: str,
    input_shape: tuple[int, ...],
    fmt: str,
    group_by: str,
    depth: int,
    sort: str | None,
    top: int | None,
    strict: bool,
    show_all: bool,
    mac_unit: str,
    plot_path: str | None,
    fallback: bool,
    expand: bool,
    max_params: int | None,
    max_mac: int | None,
    max_flops: int | None,
    flops_unit: str,
    dtype_name: str,
    debug: bool,
) -> None:
    """Per-layer FLOPs, params and MAC of MODEL (a zoo name, file.py:callable or package.module:callable)."""
    module = load_model(model)
    result = analyze(
        module,
        input_shape,
        DTYPES[dtype_name],
        name=model,
        strict=strict,
        mac_unit=cast(MacUnit, mac_unit),
        fallback=True if fallback else None,
        flops_unit=flops_unit,
    )
    emit(
        render_report(
            result,
            cast(Format, fmt),
            group_by=cast(GroupBy, group_by),
            sort=cast(SortKey | None, sort),
            top=top,
            depth=depth,
            show_free=show_all,
            expand=expand,
        )
    )
    if plot_path:
        from costmodel.plots import plot_layers

        _write_plot(plot_layers(result), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)
    check_budgets(model, result.totals, {"flops": max_flops, "mac": max_mac, "params": max_params}, mac_unit)


@cli.command()
@_shape_option
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP)
@_flops_unit_option
@_dtype_option
@_debug_option
@_user_output_to_stderr
def zoo(input_shape: tuple[int, ...], fmt: str, flops_unit: str, dtype_name: str, debug: bool) -> None:
    """List the built-in models: params, FLOPs and MAC at the input shape (224x224 by default)."""
    from costmodel.render import render_zoo

    dtype = DTYPES[dtype_name]
    reports = [analyze(build(), input_shape, dtype, name=name, flops_unit=flops_unit) for name, build in ZOO.items()]
    emit(render_zoo(reports, cast(Format, fmt)))


@cli.command()
@click.argument("model", required=False)
@_shape_option
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the N layers furthest from their bound.")
@click.option(
    "--claim",
    default=None,
    help='Prove or refute your own inequality over one conv\'s symbols, e.g. "MAC >= 2*sqrt(h*w*B) + B/(h*w)" '
    "(symbols n h w c1 c2 g k|kh kw s bias; B = FLOPs, MAC = memory access; >=, >, <=, <, ==).",
)
@click.option("--where", default=None, help='With --claim: fix symbols, e.g. "n=1,g=1,k=1,s=1" or "c2=2*c1".')
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="With --claim: seconds before the check stops and answers unknown.",
)
@_dtype_option
@_debug_option
@_user_output_to_stderr
def verify(
    model: str | None,
    input_shape: tuple[int, ...],
    fmt: str,
    top: int | None,
    claim: str | None,
    where: str | None,
    timeout: float,
    dtype_name: str,
    debug: bool,
) -> None:
    """Prove the paper's MAC bounds with sympy; with MODEL, check every conv/linear layer against them;
    with --claim, prove or refute your own inequality.

    Exits 3 if a layer breaks its proved bound or a claim is refuted or unknown (1 if a built-in
    theorem fails to prove: that is a bug).
    """
    if claim is not None:
        if model is not None:
            raise click.UsageError("give MODEL or --claim, not both")
        from costmodel.conv_claim import check_claim
        from costmodel.render import render_claim

        result = check_claim(claim, where, timeout=timeout)
        emit(render_claim(result, cast(Format, fmt)))
        if result.verdict != "proved":
            raise CheckFailed(f"claim {result.verdict}: {result.claim}")
        return
    if where is not None:
        raise click.UsageError("--where needs --claim")
    from costmodel.verify import all_theorems, check_layers

    theorems = all_theorems()
    checks, uncounted = None, None
    if model is not None:
        report = analyze(load_model(model), input_shape, DTYPES[dtype_name], name=model)
        checks = check_layers(report)
        uncounted = [f"{u.name} ({u.op})" for u in report.uncounted]
    emit(render_verification(theorems, checks, fmt, top, uncounted))  # type: ignore[arg-type]
    if not all(t.proved for t in theorems):
        failed = ", ".join(t.name for t in theorems if not t.proved)
        click.echo(f"error: theorem(s) not proved: {failed} (a bug in costmodel's proofs)", err=True)
        raise click.exceptions.Exit(EXIT_BUG)
    broken = [c.name for c in checks or [] if not c.holds]
    if broken:
        total = len(checks or [])
        raise CheckFailed(f"{len(broken)} of {total} conv/linear layers break their proved MAC bound: {', '.join(broken)}")


@cli.command()
@click.argument("model", required=False)
@_shape_option
@click.option("--zoo", "whole_zoo", is_flag=True, help="Bench every zoo model; print the whole-model table.")
@_runtime_options(repeats=20)
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed runs before measuring.")
@click.option("--recalibrate", is_flag=True, help="Redo the device micro-benchmarks instead of using the cache.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the N slowest layers.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    callback=_plot_path,
    help="Also draw a roofline chart of the layers (or, with --zoo, FLOPs/MAC vs latency) to this PNG.",
)
@_dtype_option
@_debug_option
@_user_output_to_stderr
def bench(
    model: str | None,
    input_shape: tuple[int, ...],
    whole_zoo: bool,
    device: str,
    threads: int,
    repeats: int,
    warmup: int,
    recalibrate: bool,
    fmt: str,
    top: int | None,
    plot_path: str | None,
    dtype_name: str,
    debug: bool,
) -> None:
    """Measure MODEL's real runtime per layer and whole, and score FLOPs, MAC and roofline predictions."""

    from costmodel.bench import bench as run_bench
    from costmodel.render import render_bench, render_bench_zoo

    if whole_zoo == (model is not None):
        raise click.UsageError("give either MODEL or --zoo")
    names = list(ZOO) if whole_zoo else [str(model)]
    input_shape = _single_shape(input_shape, "bench")
    results = []
    with progress_bar(repeats * len(names), "timing") as bar:
        for i, name in enumerate(names):
            results.append(
                run_bench(
                    load_model(name),
                    input_shape,
                    name=name,
                    device=device,
                    threads=threads,
                    repeats=repeats,
                    warmup=warmup,
                    recalibrate=recalibrate and i == 0,
                    progress=bar.update,
                    dtype=DTYPES[dtype_name],
                )
            )
    notes = {r.calibration_source.note for r in results if r.calibration_source.note}
    for note in sorted(notes):
        click.echo(f"warning: {note}", err=True)
    if whole_zoo:
        emit(render_bench_zoo(results, fmt))  # type: ignore[arg-type]
    else:
        emit(render_bench(results[0], fmt, top))  # type: ignore[arg-type]
    if plot_path:
        from costmodel.compare import CompareRow
        from costmodel.plots import plot_compare, plot_roofline

        if whole_zoo:
            _write_plot(plot_compare([CompareRow.of_bench(r) for r in results]), plot_path)
        else:
            _write_plot(plot_roofline(results[0]), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)


@cli.command()
@click.option(
    "--table",
    "table",
    type=click.Choice(["1", "2", "3", "4", "all"]),
    default="all",
    show_default=True,
    help="Which of the paper's guideline tables (1: G1 widths, 2: G2 groups, 3: G3 fragments, 4: G4 element-wise).",
)
@_runtime_options(repeats=10)
@click.option(
    "--width",
    "widths",
    type=click.Choice(["1", "2", "4"]),
    multiple=True,
    help="Only these width multipliers (repeatable; default all three).",
)
@click.option("--no-measure", is_flag=True, help="Analytical columns only: no timing, no calibration.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP)
@_debug_option
@_user_output_to_stderr
def guidelines(
    table: str,
    device: str,
    threads: int,
    repeats: int,
    widths: tuple[str, ...],
    no_measure: bool,
    fmt: str,
    debug: bool,
) -> None:
    """Re-run the ShuffleNet V2 paper's guideline experiments (Tables 1-4) beside its published speeds."""
    from costmodel.guidelines import WIDTHS, run_table
    from costmodel.render import render_guidelines

    require_device(device)
    tables = [1, 2, 3, 4] if table == "all" else [int(table)]
    chosen = tuple(int(w) for w in widths) or WIDTHS
    results = []
    with progress_bar(len(tables), "tables", active=not no_measure) as bar:
        for t in tables:
            measuring = not no_measure
            results.append(
                run_table(t, device=device, measure=measuring, predict=measuring, threads=threads, repeats=repeats, widths=chosen)
            )
            bar.update(1)
    emit(render_guidelines(results, fmt))  # type: ignore[arg-type]


@cli.command()
@click.argument("model")
@_shape_option
@click.option(
    "--g1-min-efficiency",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Flag 1x1 convs whose MAC efficiency is below this.",
)
@click.option(
    "--g2-max-groups", type=click.IntRange(min=1), default=1, show_default=True, help="Flag 1x1 convs with more groups than this."
)
@click.option(
    "--g3-max-branches",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Flag blocks with more parallel conv branches than this.",
)
@click.option(
    "--g3-max-small-ops",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Flag blocks with more small non-conv ops than this.",
)
@click.option(
    "--g4-max-share",
    type=click.FloatRange(0, 1),
    default=0.3,
    show_default=True,
    help="Flag blocks with element-wise arithmetic whose element-wise MAC share exceeds this.",
)
@click.option("--depth", type=click.IntRange(min=1), default=2, show_default=True, help="Module depth of a block.")
@click.option("--measure", is_flag=True, help="Also time the model and report the element-wise share of time.")
@_threads_option("CPU threads for --measure, fixed for the run")
@click.option("--all", "show_all", is_flag=True, help="List every finding (tables show 5 per guideline).")
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Timed runs for --measure; figures are medians.",
)
@click.option(
    "--fail-on",
    default="",
    callback=lambda ctx, param, value: _guidelines(value),
    help="Exit 3 if there are findings of these guidelines, e.g. G1,G2 (default: report only, exit 0).",
)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP)
@_dtype_option
@_debug_option
@_user_output_to_stderr
def lint(
    model: str,
    input_shape: tuple[int, ...],
    g1_min_efficiency: float,
    g2_max_groups: int,
    g3_max_branches: int,
    g3_max_small_ops: int,
    g4_max_share: float,
    depth: int,
    measure: bool,
    threads: int,
    show_all: bool,
    repeats: int,
    fail_on: tuple[str, ...],
    fmt: str,
    dtype_name: str,
    debug: bool,
) -> None:
    """Check MODEL against the four guidelines (G1 widths, G2 groups, G3 fragmentation, G4 element-wise)."""
    from costmodel.lint import LintThresholds
    from costmodel.lint import lint as run_lint
    from costmodel.render import render_lint

    thresholds = LintThresholds(g1_min_efficiency, g2_max_groups, g3_max_branches, g3_max_small_ops, g4_max_share, depth)
    module = load_model(model)
    measured = None
    if measure:
        from costmodel.bench import bench as run_bench

        with progress_bar(repeats, "timing") as bar:
            shape = _single_shape(input_shape, "lint --measure")
            dtype = DTYPES[dtype_name]
            result = run_bench(module, shape, name=model, dtype=dtype, threads=threads, repeats=repeats, progress=bar.update)
        measured = {r.name: r.measured_ms for r in result.rows}
    result_lint = run_lint(module, input_shape, name=model, thresholds=thresholds, measured_ms=measured, dtype=DTYPES[dtype_name])
    emit(render_lint(result_lint, cast(Format, fmt), None if show_all else 5))
    failing = [f"{len(result_lint.by_guideline(g))} {g}" for g in fail_on if result_lint.by_guideline(g)]
    if failing:
        raise CheckFailed(f"{model}: lint findings {', '.join(failing)} (--fail-on {','.join(fail_on)})")


@cli.command()
@click.argument("models", nargs=-1, required=True)
@_shape_option
@click.option("--measure", is_flag=True, help="Also measure latency and show each predictor's estimate.")
@_runtime_options(repeats=20)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    callback=_plot_path,
    help="Draw FLOPs vs latency and MAC vs latency to this PNG (measures latency).",
)
@_budget_options
@_flops_unit_option
@_dtype_option
@_debug_option
@_user_output_to_stderr
def compare(
    models: tuple[str, ...],
    input_shape: tuple[int, ...],
    measure: bool,
    device: str,
    threads: int,
    repeats: int,
    fmt: str,
    plot_path: str | None,
    max_params: int | None,
    max_mac: int | None,
    max_flops: int | None,
    flops_unit: str,
    dtype_name: str,
    debug: bool,
) -> None:
    """Compare MODELS side by side: params, FLOPs, MAC, element-wise MAC, 1x1 MAC efficiency (and latency)."""
    from costmodel.compare import compare as run_compare
    from costmodel.render import render_compare

    require_device(device)
    loaded = [(name, load_model(name)) for name in models]
    measuring = measure or plot_path is not None
    if measuring:
        input_shape = _single_shape(input_shape, "compare --measure")
    with progress_bar(repeats * len(loaded), "timing", active=measuring) as bar:
        rows = run_compare(
            loaded,
            input_shape,
            measure=measuring,
            device=device,
            threads=threads,
            repeats=repeats,
            flops_unit=flops_unit,
            progress=bar.update,
            dtype=DTYPES[dtype_name],
        )
    emit(render_compare(rows, fmt))  # type: ignore[arg-type]
    if plot_path:
        from costmodel.plots import plot_compare

        _write_plot(plot_compare(rows), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)
    limits = {"flops": max_flops, "mac": max_mac, "params": max_params}
    failures = []
    for row in rows:
        try:
            check_budgets(row.model, {"flops": row.flops, "mac": row.mac, "params": row.params}, limits)
        except CheckFailed as exc:
            failures.append(str(exc))
    if failures:
        raise CheckFailed(" | ".join(failures))


def _show_progress_notes() -> None:
    """On a terminal, print the library's progress notes (a calibration starting) to stderr."""
    logger = logging.getLogger("costmodel")
    if sys.stderr is not None and sys.stderr.isatty() and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI; user errors print one line and exit 2, tracebacks only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _show_progress_notes()
    try:
        cli.main(args=args, prog_name="costmodel", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # one line, not click's three
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C (or a model raising it) into Abort
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except CheckFailed as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"check failed: {exc}", err=True)
        return EXIT_CHECK_FAILED
    except CostModelError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # click exits through click.exceptions.Exit: this came from the model's code
        if debug:
            traceback.print_exc()
        click.echo(f"error: the model's code called sys.exit({exc.code!r}) during loading or analysis", err=True)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug in costmodel or an unexpected model: still one line by default
        if debug:
            traceback.print_exc()
        click.echo(f"error: {type(exc).__name__}: {exc} (internal error; rerun with --debug)", err=True)
        return EXIT_BUG
    return 0


if __name__ == "__main__":
    sys.exit(main())
