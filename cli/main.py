"""``costmodel``: a thin click layer over the library — the command group and the one place where errors
become exit codes (``commands`` parse and call; ``options`` declares the shared option bundles once).

The group loads its commands (and with them torch) only when one runs or shows its own help, so
``costmodel --help`` and ``--version`` answer at once."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 2 bad input (model spec, shape, option, path; a model fx and the aten walk "
    "cannot run; the model's own code calling sys.exit or raising; an unreadable --claim); 3 a check you asked "
    "for failed (a MAC bound that does not hold, a --claim refuted or unproved, --max-flops/--max-mac/"
    "--max-params exceeded, lint --fail-on findings, uncounted ops under --strict); "
    "130 interrupted (Ctrl-C or SIGTERM); 1 a bug in costmodel."
)


#: The commands, in help order, with the one-line help the group lists (each command's own docstring
#: starts with the same sentence: tested).
COMMAND_HELP = {
    "report": "Per-layer FLOPs, params and MAC of MODEL (a zoo name, file.py:callable or package.module:callable).",
    "zoo": "List the built-in models: params, FLOPs and MAC at the input shape (224x224 by default).",
    "formula": "MODEL's FLOPs, MAC, params and activations as exact formulas of its named input sizes",
    "verify": "Prove the paper's MAC bounds with sympy; with MODEL, check every conv/linear layer against them;",
    "bench": "Measure MODEL's real runtime per layer and whole, and score FLOPs, MAC and roofline predictions.",
    "guidelines": "Re-run the ShuffleNet V2 paper's guideline experiments (Tables 1-4) beside its published speeds.",
    "lint": "Check MODEL against the four guidelines (G1 widths, G2 groups, G3 fragmentation, G4 element-wise).",
    "compare": "Compare MODELS side by side: params, FLOPs, MAC, element-wise MAC, 1x1 MAC efficiency (and latency).",
    "sweep": "Cost every candidate of BUILDER's design space and mark their Pareto front.",
    "memory": "Live tensor bytes over one inference forward or training step of MODEL: the peak, where it occurs,",
}


class LazyGroup(click.Group):
    """A group whose commands are imported when used, not when the group's help is printed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMAND_HELP)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMAND_HELP:
            return None
        from costmodel_cli import commands

        command: click.Command = getattr(commands, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text.rstrip(";")) for name, text in COMMAND_HELP.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="costmodel", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def cli(debug: bool) -> None:
    """What a CNN really costs, layer by layer: FLOPs (multiply-adds), params and memory access cost."""


def _show_progress_notes() -> None:
    """On a terminal, print the library's progress notes (a calibration starting) to stderr."""
    logger = logging.getLogger("costmodel")
    if sys.stderr is not None and sys.stderr.isatty() and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


#: costmodel.errors.EXIT_INTERRUPTED, spelt here: an interrupt may come before costmodel is imported.
INTERRUPTED = 130


def _codes() -> Any:
    from costmodel import errors  # imported by every command that ran: no cost here

    return errors


def _exit_code(exc: Exception, debug: bool) -> int:
    """One line for an error, and its exit code: 3 a failed check, 2 bad input, 1 a bug (tracebacks with --debug)."""
    codes = _codes()
    if debug:
        traceback.print_exc()
    if isinstance(exc, codes.CheckFailed):
        click.echo(f"check failed: {exc}", err=True)
        return int(codes.EXIT_CHECK_FAILED)
    if isinstance(exc, codes.CostModelError):
        click.echo(f"error: {exc}", err=True)
        return int(codes.EXIT_BAD_INPUT)
    click.echo(f"error: {type(exc).__name__}: {exc} (internal error; rerun with --debug)", err=True)
    return int(codes.EXIT_BUG)


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
        return INTERRUPTED
    except SystemExit as exc:  # click exits through click.exceptions.Exit: this came from the model's code
        if debug:
            traceback.print_exc()
        click.echo(f"error: the model's code called sys.exit({exc.code!r}) during loading or analysis", err=True)
        return _codes().EXIT_BAD_INPUT
    except Exception as exc:
        return _exit_code(exc, debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
