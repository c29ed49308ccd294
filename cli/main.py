"""``costmodel``: a thin click layer over the library — parse, call, render; errors as one line."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, cast

import click
from tabulate import tabulate

from costmodel import CostModelError, analyze, load_model
from costmodel.analyze import MacUnit
from costmodel.inputs import DTYPES, ModelInputs, parse_input_option
from costmodel.measure import require_device
from costmodel.render import Format, human, render_report, render_verification
from costmodel.report import GroupBy, SortKey
from costmodel.zoo import ZOO

EXIT_USER_ERROR = 2  # bad input: model spec, shape, untraceable model, --strict
EXIT_INTERNAL_ERROR = 1  # a bug, or a verification that failed

FORMATS = click.Choice(["table", "json", "csv", "markdown"])


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
        func = click.option("--repeats", type=click.IntRange(min=1), default=repeats, show_default=True)(func)
        func = click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)(func)
        return click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)(func)

    return decorate


def _debug_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--debug", is_flag=True, help="Show the full traceback on errors.")(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@_debug_option
def cli(debug: bool) -> None:
    """What a CNN really costs, layer by layer: FLOPs (multiply-adds), params and memory access cost."""


@cli.command()
@click.argument("model")
@_shape_option
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--group-by", type=click.Choice(["layer", "module", "op"]), default="layer", show_default=True)
@click.option(
    "--depth", type=click.IntRange(min=1), default=2, show_default=True, help="Module-name depth for --group-by module."
)
@click.option("--sort", type=click.Choice(["flops", "mac", "params"]), default=None, help="Sort rows, largest first.")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the first N rows.")
@click.option("--strict", is_flag=True, help="Fail if any op cannot be costed.")
@click.option("--all", "show_all", is_flag=True, help="Also show shape-only rows (0 FLOPs, 0 MAC) in tables.")
@click.option("--mac-unit", type=click.Choice(["elements", "bytes"]), default="elements", show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also draw per-layer FLOPs and MAC (with the bound) along depth to this PNG.",
)
@click.option(
    "--fallback",
    is_flag=True,
    help="Cost with the aten-level walk (one op per row) even where torch.fx can trace MODEL; "
    "without it that walk runs only where fx fails.",
)
@click.option("--expand", is_flag=True, help="Show the aten ops under each row (tables; JSON always has them).")
@_dtype_option
@_debug_option
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
    )
    click.echo(
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
        from costmodel.plots import plot_layers, save_png

        save_png(plot_layers(result), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)


@cli.command()
@_shape_option
@_debug_option
def zoo(input_shape: tuple[int, ...], debug: bool) -> None:
    """List the built-in models: params, FLOPs and MAC at the input shape (224x224 by default)."""
    rows = []
    for name, build in ZOO.items():
        result = analyze(build(), input_shape, name=name)
        rows.append(
            [
                name,
                human(result.totals["params"]),
                human(result.contraction_flops),
                human(result.totals["flops"]),
                human(result.totals["mac"]),
                "yes" if result.complete else f"no ({len(result.uncounted)} uncounted)",
            ]
        )
    headers = ["model", "params", "FLOPs conv+fc", "FLOPs all ops", "MAC (elements)", "complete"]
    click.echo(f"input {result.inputs} · FLOPs = multiply-adds")
    click.echo(
        tabulate(
            rows, headers, tablefmt="simple", disable_numparse=True, colalign=["left", "right", "right", "right", "right", "left"]
        )
    )


@cli.command()
@click.argument("model", required=False)
@_shape_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the N layers furthest from their bound.")
@_debug_option
def verify(model: str | None, input_shape: tuple[int, ...], fmt: str, top: int | None, debug: bool) -> None:
    """Prove the paper's MAC bounds with sympy; with MODEL, check every conv/linear layer against them.

    Exits 1 if a theorem fails to prove or a layer breaks its bound.
    """
    from costmodel.verify import all_theorems, check_layers

    theorems = all_theorems()
    checks, uncounted = None, None
    if model is not None:
        report = analyze(load_model(model), input_shape, name=model)
        checks = check_layers(report)
        uncounted = [f"{u.name} ({u.op})" for u in report.uncounted]
    click.echo(render_verification(theorems, checks, fmt, top, uncounted))  # type: ignore[arg-type]
    if not all(t.proved for t in theorems) or (checks is not None and not all(c.holds for c in checks)):
        raise click.exceptions.Exit(EXIT_INTERNAL_ERROR)


@cli.command()
@click.argument("model", required=False)
@_shape_option
@click.option("--zoo", "whole_zoo", is_flag=True, help="Bench every zoo model; print the whole-model table.")
@_runtime_options(repeats=20)
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--recalibrate", is_flag=True, help="Redo the device micro-benchmarks instead of using the cache.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the N slowest layers.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also draw a roofline chart of the layers (or, with --zoo, FLOPs/MAC vs latency) to this PNG.",
)
@_debug_option
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
    debug: bool,
) -> None:
    """Measure MODEL's real runtime per layer and whole, and score FLOPs, MAC and roofline predictions."""
    from tqdm import tqdm

    from costmodel.bench import bench as run_bench
    from costmodel.render import render_bench, render_bench_zoo

    if whole_zoo == (model is not None):
        raise click.UsageError("give either MODEL or --zoo")
    names = list(ZOO) if whole_zoo else [str(model)]
    input_shape = _single_shape(input_shape, "bench")
    results = []
    with tqdm(total=repeats * len(names), desc="timing", unit="run", disable=None, file=sys.stderr) as bar:
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
                )
            )
    if whole_zoo:
        click.echo(render_bench_zoo(results, fmt))  # type: ignore[arg-type]
    else:
        click.echo(render_bench(results[0], fmt, top))  # type: ignore[arg-type]
    if plot_path:
        from costmodel.compare import CompareRow
        from costmodel.plots import plot_compare, plot_roofline, save_png

        if whole_zoo:
            save_png(plot_compare([CompareRow.of_bench(r) for r in results]), plot_path)
        else:
            save_png(plot_roofline(results[0]), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)


@cli.command()
@click.option("--table", "table", type=click.Choice(["1", "2", "3", "4", "all"]), default="all", show_default=True)
@_runtime_options(repeats=10)
@click.option(
    "--width",
    "widths",
    type=click.Choice(["1", "2", "4"]),
    multiple=True,
    help="Only these width multipliers (repeatable; default all three).",
)
@click.option("--no-measure", is_flag=True, help="Analytical columns only: no timing, no calibration.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@_debug_option
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
    results = [
        run_table(
            t, device=device, measure=not no_measure, predict=not no_measure, threads=threads, repeats=repeats, widths=chosen
        )
        for t in tables
    ]
    click.echo(render_guidelines(results, fmt))  # type: ignore[arg-type]


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
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--all", "show_all", is_flag=True, help="List every finding (tables show 5 per guideline).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@_debug_option
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
    fmt: str,
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

        result = run_bench(module, _single_shape(input_shape, "lint --measure"), name=model, threads=threads, repeats=10)
        measured = {r.name: r.measured_ms for r in result.rows}
    result_lint = run_lint(module, input_shape, name=model, thresholds=thresholds, measured_ms=measured)
    click.echo(render_lint(result_lint, cast(Format, fmt), None if show_all else 5))


@cli.command()
@click.argument("models", nargs=-1, required=True)
@_shape_option
@click.option("--measure", is_flag=True, help="Also measure latency and show each predictor's estimate.")
@_runtime_options(repeats=20)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Draw FLOPs vs latency and MAC vs latency to this PNG (measures latency).",
)
@_debug_option
def compare(
    models: tuple[str, ...],
    input_shape: tuple[int, ...],
    measure: bool,
    device: str,
    threads: int,
    repeats: int,
    fmt: str,
    plot_path: str | None,
    debug: bool,
) -> None:
    """Compare MODELS side by side: params, FLOPs, MAC, element-wise MAC, 1x1 MAC efficiency (and latency)."""
    from costmodel.compare import compare as run_compare
    from costmodel.render import render_compare

    require_device(device)
    loaded = [(name, load_model(name)) for name in models]
    if measure or plot_path is not None:
        input_shape = _single_shape(input_shape, "compare --measure")
    rows = run_compare(
        loaded, input_shape, measure=measure or plot_path is not None, device=device, threads=threads, repeats=repeats
    )
    click.echo(render_compare(rows, fmt))  # type: ignore[arg-type]
    if plot_path:
        from costmodel.plots import plot_compare, save_png

        save_png(plot_compare(rows), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI; user errors print one line and exit 2, tracebacks only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
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
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_INTERNAL_ERROR
    except CostModelError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR
    except Exception as exc:  # a bug in costmodel or an unexpected model: still one line by default
        if debug:
            traceback.print_exc()
        click.echo(f"error: {type(exc).__name__}: {exc} (internal error; rerun with --debug)", err=True)
        return EXIT_INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
