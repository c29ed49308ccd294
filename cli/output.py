"""Where results go: the real standard output (the model's own prints go to stderr), plots written
atomically, progress bars on a terminal only."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from costmodel import CostModelError

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


def user_output_to_stderr(func: Callable[..., Any]) -> Callable[..., Any]:
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


def write_plot(figure: Any, path: str) -> None:
    """Save a figure atomically; a failed write (full disk, the folder gone) is one line, exit 2."""
    from costmodel.render.plots import save_png

    try:
        save_png(figure, path)
    except OSError as exc:
        raise CostModelError(f"cannot write the plot to {path} ({exc.strerror or exc})") from None


def progress_bar(total: int, what: str, active: bool = True) -> Any:
    """A tqdm bar on stderr for a measurement: shown on a terminal only (off in pipes, logs and CI)."""
    from tqdm import tqdm

    unit = "run" if what == "timing" else what
    return tqdm(total=total, desc=what, unit=unit, disable=None if active else True, file=sys.stderr)
