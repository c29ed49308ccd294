"""The commands: each parses its options (bundles from ``options``), calls one library function, prints
the result through the one renderer, and raises CheckFailed for a check the user asked for."""

from __future__ import annotations

from typing import Any, cast

import click
from costmodel_cli.formula_command import formula, formula_of, symbolic_inputs
from costmodel_cli.memory_command import memory, mode_option, optimizer_option
from costmodel_cli.options import (
    budget_options,
    debug_option,
    dtype_option,
    flops_unit_option,
    input_option,
    output_options,
    parse_guidelines,
    parse_inputs,
    plot_option,
    repeats_option,
    runtime_options,
    stacked,
    threads_option,
    threshold_options,
    warmup_option,
)
from costmodel_cli.output import emit, progress_bar, user_output_to_stderr, write_plot
from costmodel_cli.sweep_command import sweep

from costmodel import analyze, load_model
from costmodel.analyze import MacUnit
from costmodel.errors import EXIT_BUG, CheckFailed
from costmodel.guidelines.budgets import check_all_budgets, check_budgets
from costmodel.inputs import DTYPES
from costmodel.render.printing import render
from costmodel.runtime.measure import require_device
from costmodel.runtime.settings import RunSettings
from costmodel.zoo import ZOO

#: The options every command that analyses a model takes.
model_options = stacked(input_option, dtype_option, debug_option)


def _plotted(figure: Any, path: str | None) -> None:
    if path:
        write_plot(figure, path)
        click.echo(f"plot written to {path}", err=True)


@click.command()
@click.argument("model")
@output_options
@click.option(
    "--group-by",
    type=click.Choice(["module", "layer", "op"]),
    default=None,
    help="The module tree to --depth (subtotals; each module's own ops beneath it), one row per layer, or per op "
    "type. Default: the module tree in tables, one row per layer in CSV and JSON.",
)
@click.option("--flat", is_flag=True, help="One row per layer (fx node; layer call or op in the aten walk): --group-by layer.")
@click.option("--depth", type=click.IntRange(min=1), default=2, show_default=True, help="Depth of the module tree.")
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
@plot_option("Also draw per-layer FLOPs and MAC (with the bound) along depth to this PNG.")
@click.option(
    "--fallback",
    is_flag=True,
    help="Cost with the aten-level walk (torch.nn layers and the aten ops of other code as rows) even where "
    "torch.fx can trace MODEL; "
    "without it that walk runs only where fx fails.",
)
@click.option("--expand", is_flag=True, help="Show the aten ops under each row (tables; JSON always has them).")
@click.option(
    "--memory", "with_memory", is_flag=True, help="Also model the forward's peak memory (a line in tables, a JSON block)."
)
@mode_option
@optimizer_option
@budget_options
@flops_unit_option
@model_options
@user_output_to_stderr
def report(
    model: str,
    input_shape: Any,
    fmt: str,
    exact: bool,
    group_by: str | None,
    flat: bool,
    depth: int,
    sort: str | None,
    top: int | None,
    strict: bool,
    show_all: bool,
    mac_unit: str,
    plot_path: str | None,
    fallback: bool,
    expand: bool,
    with_memory: bool,
    mode: str,
    optimizer: str,
    max_params: int | None,
    max_mac: int | None,
    max_flops: int | None,
    flops_unit: str,
    dtype_name: str,
    debug: bool,
) -> None:
    """Per-layer FLOPs, params and MAC of MODEL (a zoo name, file.py:callable or package.module:callable).

    With --mode train: each layer's forward and backward FLOPs and MAC over one training step, the bytes
    autograd saves of it, and the step's peak memory."""
    if mode == "train":
        refused = {"--max-flops": max_flops, "--max-mac": max_mac, "--max-params": max_params, "--plot": plot_path}
        _training_report(model, input_shape, optimizer, dtype_name, fmt, exact, show_all, {**refused, "--fallback": fallback})
        return
    result = analyze(
        load_model(model),
        input_shape,
        DTYPES[dtype_name],
        name=model,
        strict=strict,
        mac_unit=cast(MacUnit, mac_unit),
        fallback=True if fallback else None,
        flops_unit=flops_unit,
        memory=with_memory,
    )
    options = dict(group_by="layer" if flat else group_by, sort=sort, top=top, depth=depth, show_free=show_all, expand=expand)
    emit(render(result, fmt, exact=exact, **options))
    if plot_path:
        from costmodel.render.plots import plot_layers

        _plotted(plot_layers(result), plot_path)
    check_budgets(model, result.totals, {"flops": max_flops, "mac": max_mac, "params": max_params}, mac_unit)


def _training_report(
    model: str, input_shape: Any, optimizer: str, dtype_name: str, fmt: str, exact: bool, show_all: bool, refused: dict[str, Any]
) -> None:
    """``report --mode train``: the training step's per-layer forward/backward costs (``memory_report``)."""
    from costmodel.memory.run import memory_report

    given = [name for name, value in refused.items() if value]
    if given:
        raise click.BadParameter(f"{', '.join(given)} apply to the inference report: leave them out with --mode train")
    chosen = None if optimizer == "none" else optimizer
    result = memory_report(load_model(model), input_shape, mode="train", optimizer=chosen, dtype=DTYPES[dtype_name], name=model)
    emit(render(result, fmt, exact=exact, show_all=show_all, layers=True))


@click.command()
@input_option
@output_options
@flops_unit_option
@dtype_option
@debug_option
@user_output_to_stderr
def zoo(input_shape: Any, fmt: str, exact: bool, flops_unit: str, dtype_name: str, debug: bool) -> None:
    """List the built-in models: params, FLOPs and MAC at the input shape (224x224 by default)."""
    from costmodel.guidelines.compare import compare

    models = [(name, build()) for name, build in ZOO.items()]
    emit(render(compare(models, input_shape, flops_unit=flops_unit, dtype=DTYPES[dtype_name]), fmt, exact=exact))


@click.command()
@click.argument("model", required=False)
@output_options
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the N layers furthest from their bound.")
@click.option("--proofs/--no-proofs", default=True, show_default=True, help="Print each theorem's statement and steps.")
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
@click.option(
    "--input",
    "raw_inputs",
    multiple=True,
    help="MODEL's input: '1,3,224,224' checks every conv/linear layer at that size; names ('1,3,H,W') check them "
    "for every size of the formula's domain. Default: 1,C,224,224 where the first layer is a Conv2d on C channels.",
)
@dtype_option
@debug_option
@user_output_to_stderr
def verify(
    model: str | None,
    raw_inputs: tuple[str, ...],
    fmt: str,
    exact: bool,
    top: int | None,
    proofs: bool,
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
        from costmodel.proofs.conv_claim import check_claim

        checked = check_claim(claim, where, timeout=timeout)
        emit(render(checked, fmt, exact=exact))
        if checked.verdict != "proved":
            raise CheckFailed(f"claim {checked.verdict}: {checked.claim}")
        return
    if where is not None:
        raise click.UsageError("--where needs --claim")
    from costmodel.proofs.verify import verification

    if symbolic_inputs(raw_inputs):
        if model is None:
            raise click.UsageError("sizes with names (--input 1,3,H,W) need a MODEL")
        from costmodel.proofs.all_sizes import verification_over_sizes

        derived = formula_of(model, raw_inputs, dtype_name)
        result = verification_over_sizes(derived)
        emit(render(result, fmt, exact=exact, top=top, proofs=proofs))
        unknown = [c.name for c in result.all_sizes or [] if not c.holds]
        if unknown:
            raise CheckFailed(f"{len(unknown)} conv/linear layers not proved for every size: {', '.join(unknown)}")
        return
    input_shape = parse_inputs(raw_inputs)
    report = None if model is None else analyze(load_model(model), input_shape, DTYPES[dtype_name], name=model)
    result = verification(report)
    emit(render(result, fmt, exact=exact, top=top, proofs=proofs))
    if not all(t.proved for t in result.theorems):
        failed = ", ".join(t.name for t in result.theorems if not t.proved)
        click.echo(f"error: theorem(s) not proved: {failed} (a bug in costmodel's proofs)", err=True)
        raise click.exceptions.Exit(EXIT_BUG)
    broken = [c.name for c in result.checks or [] if not c.holds]
    if broken:
        total = len(result.checks or [])
        raise CheckFailed(f"{len(broken)} of {total} conv/linear layers break their proved MAC bound: {', '.join(broken)}")


@click.command()
@click.argument("model", required=False)
@input_option
@click.option("--zoo", "whole_zoo", is_flag=True, help="Bench every zoo model; print the whole-model table.")
@runtime_options(repeats=20)
@warmup_option
@click.option("--recalibrate", is_flag=True, help="Redo the device micro-benchmarks instead of using the cache.")
@output_options
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show only the N slowest layers.")
@plot_option("Also draw a roofline chart of the layers (or, with --zoo, FLOPs/MAC vs latency) to this PNG.")
@dtype_option
@debug_option
@user_output_to_stderr
def bench(
    model: str | None,
    input_shape: Any,
    whole_zoo: bool,
    device: str,
    threads: int,
    repeats: int,
    warmup: int,
    recalibrate: bool,
    fmt: str,
    exact: bool,
    top: int | None,
    plot_path: str | None,
    dtype_name: str,
    debug: bool,
) -> None:
    """Measure MODEL's real runtime per layer and whole, and score FLOPs, MAC and roofline predictions."""
    from costmodel.runtime.bench import bench_suite

    if whole_zoo == (model is not None):
        raise click.UsageError("give either MODEL or --zoo")
    names = list(ZOO) if whole_zoo else [str(model)]
    with progress_bar(repeats * len(names), "timing") as bar:
        settings = RunSettings(device, DTYPES[dtype_name], threads, repeats, warmup, bar.update, recalibrate)
        suite = bench_suite([(name, load_model(name)) for name in names], input_shape, settings=settings)
    for note in sorted({r.calibration_source.note for r in suite.results if r.calibration_source.note}):
        click.echo(f"warning: {note}", err=True)
    emit(render(suite, fmt, exact=exact) if whole_zoo else render(suite.results[0], fmt, exact=exact, top=top))
    if plot_path:
        from costmodel.guidelines.compare import CompareRow, Comparison
        from costmodel.render.plots import plot_compare, plot_roofline

        rows = Comparison([CompareRow.of_bench(r) for r in suite.results])
        _plotted(plot_compare(rows) if whole_zoo else plot_roofline(suite.results[0]), plot_path)


@click.command()
@click.option(
    "--table",
    "table",
    type=click.Choice(["1", "2", "3", "4", "all"]),
    default="all",
    show_default=True,
    help="Which of the paper's guideline tables (1: G1 widths, 2: G2 groups, 3: G3 fragments, 4: G4 element-wise).",
)
@runtime_options(repeats=10)
@click.option(
    "--width",
    "widths",
    type=click.Choice(["1", "2", "4"]),
    multiple=True,
    help="Only these width multipliers (repeatable; default all three).",
)
@click.option("--no-measure", is_flag=True, help="Analytical columns only: no timing, no calibration.")
@output_options
@debug_option
@user_output_to_stderr
def guidelines(
    table: str,
    device: str,
    threads: int,
    repeats: int,
    widths: tuple[str, ...],
    no_measure: bool,
    fmt: str,
    exact: bool,
    debug: bool,
) -> None:
    """Re-run the ShuffleNet V2 paper's guideline experiments (Tables 1-4) beside its published speeds."""
    from costmodel.guidelines.experiments import WIDTHS, run_tables

    require_device(device)
    tables = [1, 2, 3, 4] if table == "all" else [int(table)]
    with progress_bar(len(tables), "tables", active=not no_measure) as bar:
        settings = RunSettings(device=device, threads=threads, repeats=repeats, progress=bar.update)
        result = run_tables(tables, measure=not no_measure, widths=tuple(int(w) for w in widths) or WIDTHS, settings=settings)
    emit(render(result, fmt, exact=exact))


@click.command()
@click.argument("model")
@threshold_options
@click.option("--depth", type=click.IntRange(min=1), default=2, show_default=True, help="Module depth of a block.")
@click.option("--measure", is_flag=True, help="Also time the model and report the element-wise share of time.")
@threads_option("CPU threads for --measure, fixed for the run")
@click.option("--all", "show_all", is_flag=True, help="List every finding (tables show 5 per guideline).")
@repeats_option(10, "Timed runs for --measure")
@click.option(
    "--fail-on",
    default="",
    callback=lambda ctx, param, value: parse_guidelines(value),
    help="Exit 3 if there are findings of these guidelines, e.g. G1,G2 (default: report only, exit 0).",
)
@output_options
@model_options
@user_output_to_stderr
def lint(
    model: str,
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
    exact: bool,
    input_shape: Any,
    dtype_name: str,
    debug: bool,
) -> None:
    """Check MODEL against the four guidelines (G1 widths, G2 groups, G3 fragmentation, G4 element-wise)."""
    from costmodel.guidelines.lint import LintThresholds
    from costmodel.guidelines.lint import lint as run_lint

    thresholds = LintThresholds(g1_min_efficiency, g2_max_groups, g3_max_branches, g3_max_small_ops, g4_max_share, depth)
    with progress_bar(repeats, "timing", active=measure) as bar:
        settings = RunSettings(dtype=DTYPES[dtype_name], threads=threads, repeats=repeats, progress=bar.update)
        result = run_lint(load_model(model), input_shape, name=model, thresholds=thresholds, measure=measure, settings=settings)
    emit(render(result, fmt, exact=exact, per_guideline=None if show_all else 5))
    failing = [f"{len(result.by_guideline(g))} {g}" for g in fail_on if result.by_guideline(g)]
    if failing:
        raise CheckFailed(f"{model}: lint findings {', '.join(failing)} (--fail-on {','.join(fail_on)})")


@click.command()
@click.argument("models", nargs=-1, required=True)
@input_option
@click.option("--measure", is_flag=True, help="Also measure latency and show each predictor's estimate.")
@runtime_options(repeats=20)
@output_options
@plot_option("Draw FLOPs vs latency and MAC vs latency to this PNG (measures latency).")
@budget_options
@flops_unit_option
@dtype_option
@debug_option
@user_output_to_stderr
def compare(
    models: tuple[str, ...],
    input_shape: Any,
    measure: bool,
    device: str,
    threads: int,
    repeats: int,
    fmt: str,
    exact: bool,
    plot_path: str | None,
    max_params: int | None,
    max_mac: int | None,
    max_flops: int | None,
    flops_unit: str,
    dtype_name: str,
    debug: bool,
) -> None:
    """Compare MODELS side by side: params, FLOPs, MAC, element-wise MAC, 1x1 MAC efficiency (and latency)."""
    from costmodel.guidelines.compare import compare as run_compare

    require_device(device)
    loaded = [(name, load_model(name)) for name in models]
    measuring = measure or plot_path is not None
    with progress_bar(repeats * len(loaded), "timing", active=measuring) as bar:
        settings = RunSettings(device, DTYPES[dtype_name], threads, repeats, progress=bar.update)
        result = run_compare(loaded, input_shape, measure=measuring, flops_unit=flops_unit, settings=settings)
    emit(render(result, fmt, exact=exact))
    if plot_path:
        from costmodel.render.plots import plot_compare

        _plotted(plot_compare(result), plot_path)
    totals = [(r.model, {"flops": r.flops, "mac": r.mac, "params": r.params}) for r in result]
    check_all_budgets(totals, {"flops": max_flops, "mac": max_mac, "params": max_params})


COMMANDS = (report, zoo, formula, verify, bench, guidelines, lint, compare, sweep, memory)
