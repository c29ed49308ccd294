"""``memory_report``: the live-bytes timeline, peak and training costs of one step, from one fake run."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from costmodel.inputs import default_inputs
from costmodel.memory.result import MemoryReport, step_report
from costmodel.memory.step import StepMode, model_device, record_step
from costmodel.trace.model_errors import check_dtype, check_model

#: What the ledger does not model, printed with every memory report.
NOT_MODELLED = (
    "not modelled: allocator block caching and fragmentation (CUDA's reserved > allocated), scratch of kernels other "
    "than CPU convolution's forward (backward convolution, cuDNN/BLAS workspaces), the CUDA context"
)


def memory_report(
    model: nn.Module,
    inputs: Any = None,
    *,
    mode: StepMode = "inference",
    optimizer: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    name: str | None = None,
) -> MemoryReport:
    """Memory over one step of ``model`` on ``inputs``, modelled on fake tensors (nothing real is
    allocated; the model is not run or changed).

    ``mode="inference"``: one forward in eval mode under no_grad. ``mode="train"``: one steady-state
    training step in train mode — forward, ``loss = Σ output.sum()``, backward, ``optimizer`` step
    (sgd, momentum, adam, adamw; None: no optimizer), gradients set to None. Live bytes are every
    storage allocated and not yet freed (freed when its last reference goes, as eager PyTorch frees),
    plus parameters, buffers, inputs and optimizer state, resident throughout; the peak is their
    maximum over the ops, and the op's own scratch (CPU convolution) counts while it runs. ``device``:
    where the step is modelled (default the model's device): CUDA rounds every block up to 512 bytes.
    """
    check_model(model)
    check_dtype(dtype)
    if inputs is None:
        inputs = default_inputs(model)
    target = torch.device(device) if device is not None else model_device(model)
    record = record_step(model, inputs, mode=mode, optimizer=optimizer, dtype=dtype, device=target)
    report = step_report(
        record,
        name or type(model).__name__,
        str(dtype).removeprefix("torch."),
        str(target),
        mode,
        optimizer if mode == "train" else None,
    )
    report.notes.append(NOT_MODELLED)
    return report
