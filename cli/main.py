"""``costmodel``: a thin click layer over the library — the command group and the one place where errors
become exit codes (``commands`` parse and call; ``options`` declares the shared option bundles once)."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence

import click
from costmodel_cli.commands import COMMANDS
from costmodel_cli.options import debug_option

from costmodel import CostModelError
from costmodel.errors import EXIT_BAD_INPUT, EXIT_BUG, EXIT_CHECK_FAILED, EXIT_INTERRUPTED, CheckFailed

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 2 bad input (model spec, shape, option, path; a model fx and the aten walk "
    "cannot run; the model's own code calling sys.exit or raising; an unreadable --claim); 3 a check you asked "
    "for failed (a MAC bound that does not hold, a --claim refuted or unproved, --max-flops/--max-mac/"
    "--max-params exceeded, lint --fail-on findings, uncounted ops under --strict); "
    "130 interrupted (Ctrl-C or SIGTERM); 1 a bug in costmodel."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(package_name="costmodel", message="%(prog)s %(version)s")
@debug_option
def cli(debug: bool) -> None:
    """What a CNN really costs, layer by layer: FLOPs (multiply-adds), params and memory access cost."""


for _command in COMMANDS:
    cli.add_command(_command)


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
