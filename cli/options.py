"""The CLI's option bundles, declared once: inputs, output format, units, dtype, budgets, plots, and the
run settings of every command that measures. Each parses and checks its value before any work."""

from __future__ import annotations

import decimal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from costmodel.guidelines.lint import LintThresholds
from costmodel.inputs import ModelInputs, parse_input_option
from costmodel.runtime.measure import threads_problem

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

FORMATS = click.Choice(["table", "json", "csv", "markdown"])
_FORMAT_HELP = "Output: an aligned table, JSON, CSV (one row per line, units in the column names) or Markdown."
_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def stacked(*decorators: Decorator) -> Decorator:
    """One decorator applying ``decorators`` in the order listed (the first is the outermost option)."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


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


def parse_guidelines(text: str) -> tuple[str, ...]:
    """'G1,g2' → ('G1', 'G2'); each must be one of G1–G4."""
    names = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in ("G1", "G2", "G3", "G4")]
    if unknown:
        raise click.BadParameter(f"unknown guideline {', '.join(unknown)}: use G1, G2, G3, G4")
    return names


def parse_inputs(values: tuple[str, ...]) -> Any:
    """Repeatable ``--input``: each '1,3,224,224', '1,77:int64' or 'name=1,77:int64'. One plain shape
    stays a shape tuple; otherwise ModelInputs (unnamed ones positional, in order; named ones keywords).
    None without any: the library takes an image batch where the first layer is a Conv2d, else says
    which input the first layer takes."""
    if not values:
        return None
    try:
        parsed = [parse_input_option(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if len(parsed) == 1 and parsed[0][0] is None and parsed[0][1].dtype is None:
        return parsed[0][1].shape
    args = tuple(spec for name, spec in parsed if name is None)
    kwargs = {name: spec for name, spec in parsed if name is not None}
    return ModelInputs(args, kwargs)


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
    problem = threads_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def threads_option(what: str) -> Decorator:
    """``--threads``: 1 … the cores available, checked before any work."""
    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        callback=_threads_checked,
        help=f"{what}; at most the cores available.",
    )


def plot_option(what: str) -> Decorator:
    """``--plot PATH.png``, checked writable before any work."""
    return click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, callback=_plot_path, help=what)


def repeats_option(default: int, what: str = "Timed runs per measurement") -> Decorator:
    """``--repeats``: timed runs, medians reported."""
    return click.option(
        "--repeats",
        type=click.IntRange(min=1),
        default=default,
        show_default=True,
        help=f"{what}; figures are medians (the spread is shown beside them).",
    )


input_option = click.option(
    "--input",
    "input_shape",
    multiple=True,
    callback=lambda ctx, param, value: parse_inputs(value),
    help="An input tensor: shape '1,3,224,224', with a dtype '1,77:int64', or a keyword input 'mask=1,77:bool'. "
    "Repeat for several inputs (unnamed ones are positional, in order). Default: 1,C,224,224 where the first "
    "layer is a Conv2d on C channels.",
)
dtype_option = click.option(
    "--dtype",
    "dtype_name",
    type=click.Choice(["float32", "float16", "bfloat16"]),
    default="float32",
    show_default=True,
    help="Analyse the model at this dtype (floating parameters and inputs; the model file is not changed).",
)
debug_option = click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
flops_unit_option = click.option(
    "--flops-unit",
    type=click.Choice(["multiply-adds", "flops"]),
    default="multiply-adds",
    show_default=True,
    help="Count FLOPs as multiply-adds (the paper's, fvcore's, and what thop/ptflops call MACs) or as "
    "flops = 2 × multiply-adds (torch.utils.flop_counter's). --max-flops is in the same unit.",
)
device_option = click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where to measure; cuda needs a visible GPU (checked first).",
)
warmup_option = click.option(
    "--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed runs before measuring."
)
#: --format and --exact: every command prints through the same renderer.
output_options = stacked(
    click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help=_FORMAT_HELP),
    click.option("--exact", is_flag=True, help="Full integers in tables instead of human units (10.5M); CSV/JSON are exact."),
)


def _count_option(name: str, what: str) -> Decorator:
    return click.option(
        f"--max-{name}",
        f"max_{name}",
        default=None,
        callback=lambda ctx, param, value: None if value is None else parse_count(value),
        help=f"Exit 3 if the model's total {what} exceeds this (e.g. 300M, 2.5G).",
    )


#: --max-params, --max-mac, --max-flops.
budget_options = stacked(
    _count_option("params", "parameters"),
    _count_option("mac", "memory access (MAC, in the report's unit)"),
    _count_option("flops", "FLOPs (multiply-adds)"),
)


def runtime_options(repeats: int) -> Decorator:
    """--device, --threads and --repeats, shared by every command that measures."""
    return stacked(
        device_option, threads_option("CPU threads, fixed for the whole run (restored afterwards)"), repeats_option(repeats)
    )


_THRESHOLD_HELP = {
    "g1_min_efficiency": "Flag 1x1 convs whose MAC efficiency is below this.",
    "g2_max_groups": "Flag 1x1 convs with more groups than this.",
    "g3_max_branches": "Flag blocks with more parallel conv branches than this.",
    "g3_max_small_ops": "Flag blocks with more small non-conv ops than this.",
    "g4_max_share": "Flag blocks with element-wise arithmetic whose element-wise MAC share exceeds this.",
}


def _threshold_option(name: str) -> Decorator:
    default = getattr(LintThresholds(), name)
    kind = click.FloatRange(0, 1) if isinstance(default, float) else click.IntRange(min=1)
    return click.option(f"--{name.replace('_', '-')}", type=kind, default=default, show_default=True, help=_THRESHOLD_HELP[name])


#: lint's G1–G4 thresholds, with LintThresholds' defaults.
threshold_options = stacked(*(_threshold_option(name) for name in _THRESHOLD_HELP))
