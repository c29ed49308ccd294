"""Candidates as Ray tasks: a sweep on a Ray cluster (or a local Ray instance), Ray being an optional
extra (``pip install costmodel[ray]``). Ray schedules, retries and moves data; this module only says
what one task is (one architecture: ``evaluate_architecture``) and yields rows as tasks finish."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from costmodel.errors import CostModelError
from costmodel.sweeps.evaluate import Job, SweepRow, evaluate_architecture

Candidates = list[tuple[int, dict[str, Any]]]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise CostModelError("--ray needs Ray: pip install 'costmodel[ray]'") from None
    return ray


def _evaluate_on_one_thread(job: Job, group: Candidates) -> list[SweepRow]:
    """One Ray task: an architecture's rows, analysed on one thread (Ray gives each task one CPU)."""
    import torch

    torch.set_num_threads(1)
    return evaluate_architecture(job, group)


def run_on_ray(job: Job, groups: list[Candidates], address: str) -> Iterator[SweepRow]:
    """Rows of every architecture, evaluated as Ray tasks, yielded as tasks finish. ``address``: "local"
    starts a Ray instance in this process (stopped at the end), "auto" joins the running cluster, anything
    else is a cluster address (``ray://host:10001``); when Ray is already initialised it is used as is."""
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise CostModelError(f"cannot reach the Ray cluster at '{address}' ({str(exc).splitlines()[0]})") from None
        started = True
    pending: list[Any] = []
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(_evaluate_on_one_thread)
        shared = ray.put(job)
        pending = [task.remote(shared, group) for group in groups]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                try:
                    rows = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    raise CostModelError(f"a Ray task of the sweep failed ({str(exc).splitlines()[0]})") from None
                yield from rows
    finally:
        for ref in pending:  # stopped early (an error, Ctrl-C): the cluster drops what is left
            ray.cancel(ref)
        if started:
            ray.shutdown()
