"""The installed ``costmodel`` command: Ctrl-C or SIGTERM at any moment, start-up imports included, is
one line and exit 130, never a traceback, and leaves no partial output file (plots and caches are
written to a temporary file and renamed, and the interrupt unwinds through that cleanup)."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwind like Ctrl-C: temporary files are removed on the way out


def run() -> None:
    """Import the CLI and run it; an interrupt before or during the run exits 130 with one line."""
    try:
        signal.signal(signal.SIGTERM, _terminate)
        from costmodel_cli.main import main

        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
