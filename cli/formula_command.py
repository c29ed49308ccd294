"""``costmodel formula``: the model's cost as exact expressions of its named input sizes, a report at given
sizes (``--at``), or totals along one size (``--sweep``), evaluated from one symbolic trace."""

from __future__ import annotations

from typing import Any, cast

import click
from costmodel_cli.options import debug_option, dtype_option, output_options, plot_option
from costmodel_cli.output import emit, user_output_to_stderr, write_plot

from costmodel.errors import CostModelError


def _sizes(values: tuple[str, ...], what: str) -> dict[str, int]:
    """Repeatable NAME=INT (or comma-separated NAME=INT,NAME=INT) → {name: int}."""
    out: dict[str, int] = {}
    for text in values:
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep or not name.strip() or not value.strip().isdigit() or int(value) <= 0:
                raise click.BadParameter(f"'{part}': write {what} as NAME=POSITIVE_INT, e.g. H=320")
            out[name.strip()] = int(value)
    return out


def symbolic_inputs(texts: tuple[str, ...]) -> bool:
    """Whether any ``--input`` names a size (``1,3,H,W``) instead of giving only numbers."""
    from costmodel.symbolic.symbols import SymbolicInputError, parse_symbolic_option

    try:
        return any(isinstance(size, str) for text in texts for size in parse_symbolic_option(text)[1])
    except SymbolicInputError:
        return False  # not readable with names either: the numeric parser names the problem


def symbolic_model_inputs(texts: tuple[str, ...]) -> Any:
    """The ``--input`` options as ``formula`` takes them: one shape, positional shapes, or (args, kwargs)."""
    from costmodel.symbolic.symbols import SymbolicInputError, parse_symbolic_option

    try:
        parsed = [parse_symbolic_option(text) for text in texts]
    except SymbolicInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None
    args = [((sizes, dtype) if dtype else sizes) for name, sizes, dtype in parsed if name is None]
    kwargs = {name: ((sizes, dtype) if dtype else sizes) for name, sizes, dtype in parsed if name is not None}
    return (args, kwargs) if kwargs else (args[0] if len(args) == 1 else args)


def formula_of(model: str, texts: tuple[str, ...], dtype_name: str, **options: Any) -> Any:
    """``costmodel.symbolic.derive.formula`` of a loaded MODEL on the parsed ``--input`` options."""
    from costmodel import load_model
    from costmodel.inputs import DTYPES
    from costmodel.symbolic.derive import formula as derive

    return derive(load_model(model), symbolic_model_inputs(texts), DTYPES[dtype_name], name=model, **options)


@click.command()
@click.argument("model")
@click.option(
    "--input",
    "input_texts",
    multiple=True,
    required=True,
    help="An input with names for sizes: '1,3,H,W', 'input_ids=B,L:int64'. Repeat for several inputs.",
)
@click.option(
    "--hint", "hint_texts", multiple=True, help="The size a name takes while tracing (NAME=INT; branches are decided there)."
)
@click.option(
    "--at",
    "at_texts",
    multiple=True,
    help="Sizes to evaluate at (NAME=INT): prints the report there; with --sweep, fixes the other sizes.",
)
@click.option(
    "--sweep", "sweep_text", default=None, help="Evaluate the totals along one size: NAME=START:STOP[:STEP] (no re-trace)."
)
@click.option(
    "--mac-unit",
    type=click.Choice(["elements", "bytes"]),
    default="elements",
    show_default=True,
    help="MAC in elements or bytes.",
)
@click.option("--all", "show_all", is_flag=True, help="Also show rows of 0 FLOPs and 0 MAC in tables.")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the N rows that dominate the FLOPs' growth.")
@click.option(
    "--fallback",
    is_flag=True,
    help="Use the aten-level walk (layers and other code's aten ops as rows) even where torch.fx can trace MODEL.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds the symbolic trace may take; past it every size is fixed at its hint (with a note).",
)
@plot_option("With --sweep: draw FLOPs, MAC and activations against the swept size to this PNG.")
@output_options
@dtype_option
@debug_option
@user_output_to_stderr
def formula(
    model: str,
    input_texts: tuple[str, ...],
    hint_texts: tuple[str, ...],
    at_texts: tuple[str, ...],
    sweep_text: str | None,
    mac_unit: str,
    show_all: bool,
    top: int | None,
    fallback: bool,
    time_limit: float,
    plot_path: str | None,
    fmt: str,
    exact: bool,
    dtype_name: str,
    debug: bool,
) -> None:
    """MODEL's FLOPs, MAC, params and activations as exact formulas of its named input sizes (per layer and
    in total), the domain they hold on and how each total grows."""
    from costmodel.analyze import MacUnit
    from costmodel.render.printing import render
    from costmodel.symbolic.sweep import parse_range, sweep

    at = _sizes(at_texts, "--at")
    if plot_path and not sweep_text:
        raise click.BadParameter("--plot draws a sweep: give --sweep NAME=START:STOP[:STEP] too", param_hint="--plot")
    swept = parse_range(sweep_text) if sweep_text else None
    result = formula_of(
        model,
        input_texts,
        dtype_name,
        hints=_sizes(hint_texts, "--hint"),
        mac_unit=cast(MacUnit, mac_unit),
        fallback=True if fallback else None,
        time_limit=time_limit,
    )
    if swept is not None:
        series = sweep(result, swept[0], swept[1], at)
        if not series.values:
            raise CostModelError(f"no value of the sweep lies inside the domain (e.g. {series.outside[0][1]})")
        emit(render(series, fmt, exact=exact))
        if plot_path:
            from costmodel.render.formula_plot import plot_sweep

            write_plot(plot_sweep(series), plot_path)
            click.echo(f"plot written to {plot_path}", err=True)
        return
    if at:
        emit(render(result.at(at), fmt, exact=exact))
        return
    emit(render(result, fmt, exact=exact, show_free=show_all, top=top))
