"""The installed ``costmodel`` command: Ctrl-C at any moment, start-up imports included, is one line and
exit 130, never a traceback."""

from __future__ import annotations

import sys


def run() -> None:
    """Import the CLI and run it; an interrupt before or during the run exits 130 with one line."""
    try:
        from costmodel_cli.main import main

        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
