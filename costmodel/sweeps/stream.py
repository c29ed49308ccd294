"""A sweep's rows streamed to a JSON-lines file as they finish, and read back to resume.

Line 1 is ``{"sweep": {configuration}}`` (builder, inputs, dtype, predicted latency or not); every other
line is ``{"row": {…}}``, appended and flushed when its candidate finishes, so a sweep stopped at any
moment keeps every finished row. A last line cut off mid-write is dropped on resume; any other line that
is not a row is an error naming its number. Resuming with another configuration is refused: rows of
another builder or input would not be comparable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from costmodel.errors import CostModelError
from costmodel.sweeps.evaluate import SweepRow


class StreamError(CostModelError):
    """A stream that cannot be written, read or resumed (one line, naming the file)."""


def read_stream(path: Path, config: dict[str, Any]) -> list[SweepRow]:
    """The rows already in ``path`` (none when it does not exist or is empty); a cut-off last line is
    dropped from the file. StreamError when its header differs from ``config`` or a line is not a row."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    if not path.is_file():
        raise StreamError(f"cannot resume from {path}: not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StreamError(f"cannot read {path} ({exc.strerror or exc})") from None
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # text after the last newline was cut off mid-write
    if not complete:
        raise StreamError(f"{path} holds no complete line: not a sweep stream (delete it to start over)")
    header = _parsed(complete[0], path, 1)
    if not isinstance(header, dict) or "sweep" not in header:
        raise StreamError(f"{path} is not a sweep stream (line 1 is not its header)")
    differing = sorted(k for k in set(config) | set(header["sweep"]) if config.get(k) != header["sweep"].get(k))
    if differing:
        k = differing[0]
        raise StreamError(
            f"{path} was written by another sweep ({k}: {header['sweep'].get(k)!r} there, {config.get(k)!r} now): "
            "resume with the same builder, inputs, dtype and --predict, or stream to a new file"
        )
    rows = []
    for number, line in enumerate(complete[1:], 2):
        if not line.strip():
            continue
        item = _parsed(line, path, number)
        try:
            rows.append(SweepRow.from_dict(item["row"]))
        except (KeyError, TypeError):
            raise StreamError(f"line {number} of {path} is not a sweep row") from None
    if tail:
        _truncate(path, len(data) - len(tail))
    return rows


def _parsed(line: bytes, path: Path, number: int) -> Any:
    try:
        return json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise StreamError(f"line {number} of {path} is not JSON: the file is not a sweep stream") from None


def _truncate(path: Path, size: int) -> None:
    try:
        with open(path, "r+b") as handle:
            handle.truncate(size)
    except OSError as exc:
        raise StreamError(f"cannot drop the cut-off last line of {path} ({exc.strerror or exc})") from None


class RowStream:
    """Append rows to a stream file as they finish (the header first when the file is new or empty)."""

    def __init__(self, path: Path, config: dict[str, Any], *, fresh: bool) -> None:
        """Open ``path``: ``fresh`` starts it over, otherwise rows are appended after those already there."""
        self.path = path
        try:
            new = fresh or not path.exists() or path.stat().st_size == 0
            self._file: IO[str] = open(path, "w" if new else "a", encoding="utf-8")
            if new:
                self._write({"sweep": config})
        except OSError as exc:
            raise StreamError(f"cannot write the sweep stream {path} ({exc.strerror or exc})") from None

    def _write(self, item: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(item, sort_keys=True) + "\n")
            self._file.flush()
        except OSError as exc:
            raise StreamError(f"cannot write the sweep stream {self.path} ({exc.strerror or exc})") from None

    def write(self, row: SweepRow) -> None:
        """Append one finished row (flushed: a stop after this keeps it)."""
        self._write({"row": {k: v for k, v in row.to_dict().items() if k != "front"}})  # the front is the whole sweep's

    def close(self) -> None:
        """Flush to disk and close."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            pass
        self._file.close()
