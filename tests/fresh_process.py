"""Run Python code in a fresh interpreter: what a first analysis imports and builds is only visible there."""

from __future__ import annotations

import subprocess
import sys


def fresh_process_output(code: str) -> str:
    """The stripped standard output of ``code`` run by this interpreter in a new process (fails on error)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
