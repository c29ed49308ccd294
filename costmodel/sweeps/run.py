"""``sweep``: every candidate of a design space built, costed, linted and (optionally) its latency
predicted — in this process, in a local process pool, or as Ray tasks — streamed as it finishes and
ranked by its Pareto front."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch

from costmodel.errors import CostModelError
from costmodel.inputs import ModelInputs, named_model_inputs, tensor_specs
from costmodel.sweeps.evaluate import Job, SweepRow, builder_of, evaluate_architecture, one_line
from costmodel.sweeps.result import SweepResult, check_objectives, objective_name
from costmodel.sweeps.space import Axis, SearchSpace, SpaceError, candidate_key, space_of
from costmodel.sweeps.stream import RowStream, read_stream
from costmodel.trace.model_errors import check_dtype

Candidates = list[tuple[int, dict[str, Any]]]
#: The most candidates a whole grid may hold (each is a row in memory); larger spaces are sampled (--random).
MAX_GRID = 10_000_000


def size_names_of(inputs: ModelInputs | None) -> tuple[str, ...]:
    """The size names of ``inputs``' shapes, in order of appearance."""
    names = [str(s) for spec in tensor_specs(inputs) for s in spec.shape if not isinstance(s, int)]  # names are strings
    return tuple(dict.fromkeys(names))


def architectures(candidates: Candidates, size_names: Sequence[str]) -> list[Candidates]:
    """Candidates grouped by every knob but the sizes (one model built per group), in first-seen order."""
    groups: dict[str, Candidates] = {}
    for index, values in candidates:
        knobs = {k: v for k, v in values.items() if k not in size_names}
        groups.setdefault(candidate_key(knobs), []).append((index, values))
    return list(groups.values())


def _describe_builder(builder: str | Callable[..., Any]) -> str:
    if isinstance(builder, str):
        return builder.strip()
    return f"{getattr(builder, '__module__', '?')}:{getattr(builder, '__qualname__', repr(builder))}"


def _absolute_spec(builder: str) -> str:
    """A ``file.py:function`` spec with the file's absolute path (workers may start elsewhere)."""
    location, sep, attr = builder.strip().rpartition(":")
    if sep and (location.endswith(".py") or "/" in location):
        return f"{Path(location).resolve()}:{attr}"
    return builder.strip()


def sweep(
    builder: str | Callable[..., Any],
    grid: Sequence[str | Axis] | SearchSpace,
    inputs: Any = None,
    *,
    random: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    objectives: Sequence[str] = ("max:flops", "mac"),
    predict: bool = False,
    threads: int = 1,
    workers: int = 1,
    ray: str | None = None,
    stream: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[SweepRow], None] | None = None,
) -> SweepResult:
    """Cost every candidate of ``grid`` (or ``random`` of them, drawn with ``seed``): the builder —
    ``file.py:function``, ``package.module:function``, a zoo design space (``shufflenet_v2``) or a
    function — is called with each candidate's knobs as keywords; axes named in ``inputs``
    (``(1, 3, "R", "R")``) are input sizes instead, and an architecture swept over several sizes is
    built once (its formula scales it: exactly what an analysis at each size gives).

    Each row: FLOPs (multiply-adds), MAC (elements), params, G1–G4 findings, and with ``predict`` the
    calibrated roofline's latency on this CPU at ``threads`` (the ``latency`` objective). A candidate
    that fails to build or cost is a row with its one-line error. ``workers`` > 1: a local process pool;
    ``ray``: "local" (start Ray here), "auto" (join the running cluster) or a cluster address, or any
    value when Ray is already initialised. ``stream``: a JSON-lines file each row is appended to as it
    finishes; with ``resume`` the rows already there are kept and their candidates skipped. Results are
    the same whatever runs them (rows in grid order). The front is over ``objectives`` (minimised, or
    maximised as ``max:NAME``; by default the most FLOPs for the least MAC: compute as capacity)."""
    space = grid if isinstance(grid, SearchSpace) else space_of(grid)
    objectives = check_objectives(objectives)
    check_dtype(dtype)
    if any(objective_name(o) == "latency" for o in objectives) and not predict:
        raise SpaceError("the latency objective needs predicted latency: pass predict=True (--predict)")
    if workers < 1:
        raise SpaceError(f"workers must be at least 1, got {workers}")
    named = None if inputs is None else named_model_inputs(inputs)
    size_names = size_names_of(named)
    missing = [n for n in size_names if n not in space.names]
    if missing:
        raise CostModelError(f"the input size '{missing[0]}' is not an axis of the sweep: add --grid {missing[0]}=…")
    spec = _absolute_spec(builder) if isinstance(builder, str) else builder
    job = Job(spec, named, size_names, dtype, _calibration(dtype, threads) if predict else None)
    builder_of(job)  # a builder that cannot be loaded is the sweep's one-line error, before any work
    if random is None and space.size > MAX_GRID:
        raise SpaceError(f"the grid holds {space.size:,} candidates (more than {MAX_GRID:,}): sample it with --random N")
    if random is not None and random > MAX_GRID:
        raise SpaceError(f"--random {random:,} is more than {MAX_GRID:,} candidates")
    candidates = space.sample(random, seed) if random is not None else list(space.grid())
    config: dict[str, Any] = {
        "builder": _describe_builder(builder),
        "inputs": "default (1xCx224x224)" if named is None else named.describe(dtype),
        "dtype": str(dtype).removeprefix("torch."),
        "predict": predict,
        "threads": threads if predict else None,
    }
    done: list[SweepRow] = []
    if stream is not None and resume:
        wanted = {candidate_key(v) for _, v in candidates}
        done = [r for r in read_stream(Path(stream), config) if r.key in wanted]
    finished = {r.key for r in done}
    todo = [(i, v) for i, v in candidates if candidate_key(v) not in finished]
    writer = RowStream(Path(stream), config, fresh=not resume) if stream is not None else None
    rows = list(done)
    try:
        for row in _run(job, architectures(todo, size_names), workers, ray):
            rows.append(row)
            if writer is not None:
                writer.write(row)
            if progress is not None:
                progress(row)
    finally:
        if writer is not None:
            writer.close()
    notes = []
    if any(r.uncounted for r in rows):
        notes.append("candidates with uncounted ops are left off the front: their totals are lower bounds")
    return SweepResult(config["builder"], space.names, config["inputs"], config["dtype"], objectives, rows, len(done), notes)


def _calibration(dtype: torch.dtype, threads: int) -> Any:
    from costmodel.runtime.calibrate import calibrate

    return calibrate("cpu", threads, dtype)[0]


def _run(job: Job, groups: list[Candidates], workers: int, ray: str | None) -> Iterator[SweepRow]:
    if ray is not None:
        from costmodel.sweeps.on_ray import run_on_ray

        yield from run_on_ray(job, groups, ray)
    elif workers == 1 or len(groups) <= 1:
        for group in groups:
            yield from evaluate_architecture(job, group)
    else:
        yield from _run_in_pool(job, groups, workers)


def _worker_start() -> None:
    """A pool worker analyses on one thread (workers, not threads, use the cores)."""
    torch.set_num_threads(1)


def _rows_of(future: Future[list[SweepRow]]) -> list[SweepRow]:
    """A pool task's rows; a worker that died or a job that cannot be sent is the sweep's one-line error."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise CostModelError("a sweep worker process died (killed, or crashed in native code): rerun with --workers 1") from None
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        why = one_line(exc)
        raise CostModelError(f"the sweep cannot be sent to worker processes ({why}): pass the builder as a spec") from None


def _run_in_pool(job: Job, groups: list[Candidates], workers: int) -> Iterator[SweepRow]:
    """Architectures evaluated by a local process pool, rows yielded as each finishes. Processes fork
    where the platform can (no re-import: starts in milliseconds), else spawn."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and os.name == "posix" else "spawn"
    pool = ProcessPoolExecutor(min(workers, len(groups)), multiprocessing.get_context(method), initializer=_worker_start)
    pending: set[Future[list[SweepRow]]] = set()
    queue: Iterable[Candidates] = iter(groups)
    try:
        for group in itertools.islice(queue, 4 * workers):  # a bounded queue: a stop cancels little work
            pending.add(pool.submit(evaluate_architecture, job, group))
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield from _rows_of(future)
                for group in itertools.islice(queue, 1):
                    pending.add(pool.submit(evaluate_architecture, job, group))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
