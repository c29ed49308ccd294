"""``costmodel sweep``: every candidate of a design space (a builder's knobs, and input sizes) built,
costed, linted and ranked by its Pareto front — in a local process pool by default, or on Ray."""

from __future__ import annotations

import os

import click
from costmodel_cli.formula_command import symbolic_model_inputs
from costmodel_cli.options import debug_option, dtype_option, output_options, plot_option, threads_option
from costmodel_cli.output import emit, progress_bar, user_output_to_stderr, write_plot

OBJECTIVE_CHOICES = ["flops", "mac", "params", "latency", "max:flops", "max:mac", "max:params"]


def _default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@click.command()
@click.argument("builder")
@click.option(
    "--grid",
    "grid_texts",
    multiple=True,
    required=True,
    help="An axis: NAME=V1,V2,… (Python literals; lists as [4,8,4],[2,4,2]) or NAME=START:STOP[:STEP]. "
    "Names are the builder's keywords, or sizes named in --input. Repeat for each axis.",
)
@click.option("--random", "random_count", type=click.IntRange(min=1), default=None, help="Cost N candidates drawn from the grid.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the --random draw (the process's RNGs are not used)."
)
@click.option(
    "--input",
    "input_texts",
    multiple=True,
    help="An input, sizes by number or by an axis name: '1,3,224,224', '1,3,R,R'. Default: 1,C,224,224 where "
    "the first layer is a Conv2d on C channels.",
)
@click.option(
    "--objective",
    "objectives",
    multiple=True,
    type=click.Choice(OBJECTIVE_CHOICES),
    help="What the Pareto front minimises (max:NAME maximises); repeat. Default: max:flops and mac "
    "(the least memory traffic for the compute). latency needs --predict.",
)
@click.option("--predict", is_flag=True, help="Predict each candidate's latency on this CPU (the calibrated roofline).")
@threads_option("CPU threads the predicted latency is for")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local worker processes (default: one per core; 1 runs in this process).",
)
@click.option("--ray", "ray_address", default=None, help="Run candidates as Ray tasks: local, auto, or a cluster address.")
@click.option(
    "--save", "save_path", type=click.Path(dir_okay=False), default=None, help="Stream each finished row to this JSON-lines file."
)
@click.option(
    "--resume",
    "resume_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep the rows already in this JSON-lines stream, cost only the rest, and append them to it.",
)
@click.option("--all", "show_all", is_flag=True, help="Tables list every candidate, not only the front and the failures.")
@plot_option("Draw the candidates and their Pareto front to this PNG.")
@output_options
@dtype_option
@debug_option
@user_output_to_stderr
def sweep(
    builder: str,
    grid_texts: tuple[str, ...],
    random_count: int | None,
    seed: int,
    input_texts: tuple[str, ...],
    objectives: tuple[str, ...],
    predict: bool,
    threads: int,
    workers: int | None,
    ray_address: str | None,
    save_path: str | None,
    resume_path: str | None,
    show_all: bool,
    plot_path: str | None,
    fmt: str,
    exact: bool,
    dtype_name: str,
    debug: bool,
) -> None:
    """Cost every candidate of BUILDER's design space and mark their Pareto front. BUILDER is
    file.py:function or package.module:function (called with the knobs as keywords, returning an
    nn.Module), or a zoo design space: shufflenet_v2 (width, depth, split), shufflenet_v1 (groups, width, depth)."""
    from costmodel.inputs import DTYPES
    from costmodel.render.printing import render
    from costmodel.sweeps.run import sweep as run_sweep
    from costmodel.sweeps.space import SpaceError, space_of

    if save_path and resume_path:
        raise click.UsageError("give --save (a new stream) or --resume (continue one), not both")
    try:
        space = space_of(grid_texts)
        total = min(space.size, random_count) if random_count else space.size
    except SpaceError as exc:
        raise click.BadParameter(str(exc).removeprefix("--grid "), param_hint="--grid") from None
    inputs = symbolic_model_inputs(input_texts) if input_texts else None
    stream = resume_path or save_path
    with progress_bar(total, "candidates") as bar:
        result = run_sweep(
            builder,
            space,
            inputs,
            random=random_count,
            seed=seed,
            dtype=DTYPES[dtype_name],
            objectives=objectives or ("max:flops", "mac"),
            predict=predict or "latency" in objectives,
            threads=threads,
            workers=1 if ray_address else (workers or _default_workers()),
            ray=ray_address,
            stream=stream,
            resume=resume_path is not None,
            progress=lambda row: bar.update(1),
        )
    emit(render(result, fmt, exact=exact, show_all=show_all))
    if plot_path:
        from costmodel.render.sweep_plot import plot_front

        write_plot(plot_front(result), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)

