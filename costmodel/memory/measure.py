"""The peak a real step reaches, read from the allocator's own record: the oracle the ledger is held to.

On CPU: ``torch.profiler`` with ``profile_memory=True`` records every allocation and free the c10 CPU
allocator serves (size and time, the allocator's own hooks, not an estimate); the running sum of those
events over the step, plus the bytes resident before it (parameters, buffers, inputs, optimizer state,
each storage once), is the live-bytes curve, and its maximum the peak. On CUDA:
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.

The step is the one ``record_step`` models, run for real on a private copy of the model (the user's
model and the process state are untouched); a training step is run once before it is measured, so
that the optimizer state exists, as in a running loop.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from costmodel.inputs import default_inputs, empty_tensor, materialise, normalise_inputs
from costmodel.memory.ledger import allocated_bytes
from costmodel.memory.step import StepMode, make_optimizer, model_device, trainable_outputs
from costmodel.trace.fake_tensors import real_tensor_map
from costmodel.trace.guards import process_state_preserved
from costmodel.trace.model_copy import copy_model
from costmodel.trace.pending import tensors_in


@dataclass(frozen=True)
class MeasuredPeak:
    """The measured peak bytes of one step, the bytes resident before it, and how it was read."""

    peak: int
    resident: int
    method: str


def _storages_bytes(tensors: list[torch.Tensor], device: torch.device) -> int:
    seen: set[int] = set()
    total = 0
    for t in tensors:
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += allocated_bytes(int(storage.nbytes()), device)
    return total


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what C++ writes to file descriptor 2 to /dev/null meanwhile (the profiler's start/stop log
    lines), restoring it after; Python's own ``sys.stderr`` is untouched."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _step(copied: nn.Module, args: Any, kwargs: Any, mode: StepMode, opt: torch.optim.Optimizer | None) -> None:
    if mode == "inference":
        with torch.no_grad():
            out = copied(*args, **kwargs)
        del out
        return
    targets = trainable_outputs(copied(*args, **kwargs))
    loss = targets[0].sum()
    for t in targets[1:]:
        loss = loss + t.sum()
    del targets
    loss.backward()
    del loss
    if opt is not None:
        opt.step()
        opt.zero_grad(set_to_none=True)
    else:
        for p in copied.parameters():
            p.grad = None


def measured_peak(
    model: nn.Module,
    inputs: Any,
    *,
    mode: StepMode = "inference",
    optimizer: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> MeasuredPeak:
    """Run one step for real (see the module docstring) and return its peak from the allocator's record.
    Allocates what the step really needs: use it to check predictions, not on inputs too large to run."""
    spec = normalise_inputs(default_inputs(model) if inputs is None else inputs)
    device = model_device(model)
    with process_state_preserved():
        copied = copy_model(model, real_tensor_map(dtype))
        copied.train(mode == "train")
        args = materialise(spec.args, lambda s: empty_tensor(s, dtype, device))
        kwargs = materialise(spec.kwargs, lambda s: empty_tensor(s, dtype, device))
        trainable = [p for p in dict.fromkeys(copied.parameters()) if p.requires_grad]
        opt = make_optimizer(optimizer, trainable, device) if mode == "train" and optimizer else None
        _step(copied, args, kwargs, mode, opt)  # warm-up: optimizer state, lazy buffers, kernel caches
        state = [t for s in opt.state.values() for t in tensors_in(dict(s))] if opt is not None else []
        resident = _storages_bytes(
            [*dict.fromkeys(copied.parameters()), *copied.buffers(), *tensors_in((args, kwargs)), *state], device
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            _step(copied, args, kwargs, mode, opt)
            torch.cuda.synchronize(device)
            return MeasuredPeak(
                torch.cuda.max_memory_allocated(device) - before + resident, resident, "torch.cuda.max_memory_allocated"
            )
        activities = [torch.profiler.ProfilerActivity.CPU]
        with native_stderr_silenced(), torch.profiler.profile(activities=activities, profile_memory=True) as prof:
            _step(copied, args, kwargs, mode, opt)
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]  # type: ignore[union-attr]
        events.sort(key=lambda e: e.start_ns())
        live = high = 0
        for event in events:
            live += event.nbytes()
            high = max(high, live)
        return MeasuredPeak(resident + high, resident, "torch.profiler allocator events (profile_memory=True)")
