"""``costmodel memory``: live tensor bytes op by op over one inference forward or one training step,
the peak and where it occurs, modelled on fake tensors (``--measure`` also runs the step for real)."""

from __future__ import annotations

from typing import Any

import click
from costmodel_cli.options import debug_option, dtype_option, input_option, output_options, plot_option
from costmodel_cli.output import emit, user_output_to_stderr, write_plot

#: The modes and optimizers the memory and report commands take.
mode_option = click.option(
    "--mode",
    type=click.Choice(["inference", "train"]),
    default="inference",
    show_default=True,
    help="inference: one forward in eval mode under no_grad; train: one training step (forward, Σ outputs.sum() "
    "as the loss, backward, optimizer step).",
)
optimizer_option = click.option(
    "--optimizer",
    type=click.Choice(["none", "sgd", "momentum", "adam", "adamw"]),
    default="adam",
    show_default=True,
    help="With --mode train: the optimizer whose state and update are modelled (none: forward and backward only).",
)


@click.command()
@click.argument("model")
@mode_option
@optimizer_option
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default=None,
    help="The device the step is modelled on (default: the model's); cuda rounds each block to 512 bytes. Nothing runs there.",
)
@click.option("--measure", is_flag=True, help="Also run the step for real on this CPU and print the allocator's measured peak.")
@click.option("--all", "show_all", is_flag=True, help="Also show rows that allocate nothing in tables.")
@plot_option("Also draw live bytes over the step to this PNG.")
@output_options
@input_option
@dtype_option
@debug_option
@user_output_to_stderr
def memory(
    model: str,
    mode: str,
    optimizer: str,
    device: str | None,
    measure: bool,
    show_all: bool,
    plot_path: str | None,
    fmt: str,
    exact: bool,
    input_shape: Any,
    dtype_name: str,
    debug: bool,
) -> None:
    """Live tensor bytes over one inference forward or training step of MODEL: the peak, where it occurs,
    and each layer's bytes (nothing real is allocated)."""
    from costmodel import load_model
    from costmodel.inputs import DTYPES
    from costmodel.memory.run import memory_report
    from costmodel.render.printing import render

    net = load_model(model)
    chosen = None if optimizer == "none" else optimizer
    result = memory_report(net, input_shape, mode=mode, optimizer=chosen, dtype=DTYPES[dtype_name], device=device, name=model)  # type: ignore[arg-type]
    if measure:
        from costmodel.memory.measure import measured_peak

        if result.device != "cpu":
            raise click.BadParameter(
                "--measure runs the step on this CPU: leave --device out or give cpu", param_hint="--measure"
            )
        real = measured_peak(net, input_shape or None, mode=mode, optimizer=chosen, dtype=DTYPES[dtype_name])  # type: ignore[arg-type]
        error = (result.peak - real.peak) / real.peak * 100
        result.notes.insert(0, f"measured peak {real.peak:,} B ({real.method}): predicted {error:+.2f}%")
        result.measured_peak = real.peak
    emit(render(result, fmt, exact=exact, show_all=show_all))
    if plot_path:
        from costmodel.render.memory_plot import plot_memory

        write_plot(plot_memory(result), plot_path)
        click.echo(f"plot written to {plot_path}", err=True)
