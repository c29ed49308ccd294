"""One inference forward or one training step, run on a fake copy of the model under the storage ledger.

Inference: the copy in eval mode under ``no_grad``, as eager inference frees. Training, in steady state
(the step a training loop repeats): the copy in train mode; optimizer state exists before the step
(created by the optimizer's own first ``step`` on zero gradients, outside the ledger); the step is
``loss = Σ outputs.sum(); loss.backward(); optimizer.step(); optimizer.zero_grad(set_to_none=True)``.
The user's model is never run or changed: the copy holds fake twins of its tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from costmodel.errors import CostModelError
from costmodel.inputs import ModelInputs, empty_tensor, materialise, normalise_inputs
from costmodel.memory.ledger import Ledger, LedgerMode
from costmodel.trace.fake_tensors import contiguous_strides, fake_from_meta, fake_like, new_fake_mode
from costmodel.trace.guards import fake_errors_unlogged, process_state_preserved
from costmodel.trace.model_copy import copy_model
from costmodel.trace.model_errors import NeedsRealValues, check_dtype, check_model, model_error, needs_values
from costmodel.trace.pending import tensors_in

StepMode = Literal["inference", "train"]
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")


class NothingToTrain(CostModelError):
    """A training step was asked of a model whose outputs need no gradient (every parameter frozen)."""


@dataclass
class StepRecord:
    """A recorded step: the ledger (ops, resident bytes), the rows in the order they first ran, the
    gradient bytes after the backward, the optimizer state bytes, and the inputs it ran on."""

    ledger: Ledger
    rows: list[str]
    row_ops: dict[str, str]
    gradient_bytes: int
    optimizer_state_bytes: int
    trainable_params: int
    frozen_params: int
    inputs: ModelInputs
    saved_by_row: dict[str, int]


def make_optimizer(name: str, params: list[nn.Parameter], device: torch.device) -> torch.optim.Optimizer:
    """torch's own optimizer for ``name`` (sgd, momentum = SGD with momentum 0.9, adam, adamw) over
    ``params``, with the implementation torch picks by default on ``device``: the per-parameter loop on
    CPU, the multi-tensor (foreach) one on CUDA."""
    foreach = device.type == "cuda"
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, foreach=foreach)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=foreach)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, foreach=foreach)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, foreach=foreach)
    raise CostModelError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def _fake_map(mode: FakeTensorMode, dtype: torch.dtype, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Each real tensor → its fake twin on ``device`` (memoised: shared stays shared), floating point cast
    to ``dtype``; parameters stay parameters with their ``requires_grad``."""
    memo: dict[int, torch.Tensor] = {}

    def fake(t: torch.Tensor) -> torch.Tensor:
        if id(t) in memo:
            return memo[id(t)]
        cast = t.is_floating_point() and t.dtype != dtype
        if t.layout is torch.strided and not t.is_quantized and (cast or device != t.device):
            stride = contiguous_strides(t.shape) if cast else tuple(t.stride())
            offset = 0 if cast else int(t.storage_offset())
            f = fake_from_meta(mode, tuple(t.shape), stride, offset, dtype if cast else t.dtype, device)
        else:
            f = fake_like(mode, t.detach())
        if isinstance(t, nn.Parameter):
            if t.requires_grad and not f.requires_grad:
                f.requires_grad_(True)
            f._is_param = True  # type: ignore[attr-defined]  # how torch marks a Parameter of a tensor subclass
        memo[id(t)] = f
        return f

    return fake


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without tensors)."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


def _row_hooks(copied: nn.Module, mode: LedgerMode, rows: list[str], row_ops: dict[str, str]) -> None:
    """Name each module call by its path (``layer1.0.conv1``; a repeated call ``…_1``, ``…_2``; the
    model's own forward by its class) and make it the ledger's row while it runs."""
    names = {id(m): n for n, m in copied.named_modules(remove_duplicate=False)}
    calls: dict[str, int] = {}
    stack: list[str] = []
    root_name = type(copied).__name__

    def enter(module: nn.Module, args: Any) -> None:
        path = names.get(id(module), "") or root_name
        n = calls.get(path, 0)
        calls[path] = n + 1
        row = path if n == 0 else f"{path}_{n}"
        stack.append(row)
        mode.row = row
        if row not in row_ops:
            rows.append(row)
            row_ops[row] = type(module).__name__

    def leave(module: nn.Module, args: Any, out: Any) -> None:
        stack.pop()
        mode.row = stack[-1] if stack else root_name

    for module in copied.modules():
        module.register_forward_pre_hook(enter)
        module.register_forward_hook(leave)


def trainable_outputs(out: Any) -> list[torch.Tensor]:
    """The floating-point tensors of a forward's output that need a gradient: the loss sums them."""
    return [
        t
        for t in tensors_in(out)
        if isinstance(t, torch.Tensor) and t.requires_grad and (t.is_floating_point() or t.is_complex())
    ]


def record_step(
    model: nn.Module,
    inputs: Any,
    *,
    mode: StepMode = "inference",
    optimizer: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> StepRecord:
    """Record one step of ``model`` on ``inputs`` (see the module docstring) into a storage ledger.
    ``optimizer``: one of OPTIMIZERS for a training step (None: forward and backward only). ``device``:
    the device the step is modelled on (default: the model's own), which sets the allocator's rounding."""
    check_model(model)
    check_dtype(dtype)
    if mode not in ("inference", "train"):
        raise CostModelError(f"mode must be 'inference' or 'train', not {mode!r}")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise CostModelError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    spec = normalise_inputs(inputs)
    target = torch.device(device) if device is not None else model_device(model)
    with process_state_preserved(), fake_errors_unlogged():
        return _record(model, spec, mode, optimizer, dtype, target)


def _record(
    model: nn.Module, spec: ModelInputs, mode: StepMode, optimizer: str | None, dtype: torch.dtype, device: torch.device
) -> StepRecord:
    fake_mode = new_fake_mode()
    copied = copy_model(model, _fake_map(fake_mode, dtype, device))
    training = mode == "train"
    copied.train(training)
    params = list(dict.fromkeys(copied.parameters()))
    trainable = [p for p in params if p.requires_grad]
    ledger = Ledger(device=device)
    ledger_mode = LedgerMode(ledger)
    rows: list[str] = []
    row_ops: dict[str, str] = {}
    _row_hooks(copied, ledger_mode, rows, row_ops)
    with fake_mode:
        args = materialise(spec.args, lambda s: empty_tensor(s, dtype, device))
        kwargs = materialise(spec.kwargs, lambda s: empty_tensor(s, dtype, device))
        opt = make_optimizer(optimizer, trainable, device) if training and optimizer and trainable else None
        state: list[torch.Tensor] = []
        if opt is not None:
            for p in trainable:  # the state a running loop holds: made by torch's own first step
                p.grad = torch.zeros_like(p)
            opt.step()
            for p in trainable:
                p.grad = None
            state = [t for s in opt.state.values() for t in tensors_in(dict(s))]
    ledger.resident(params, "parameters")
    ledger.resident(list(copied.buffers()), "buffers")
    ledger.resident(tensors_in((args, kwargs)), "inputs")
    ledger.resident(state, "optimizer state")
    where = type(model).__name__
    gradient_bytes = 0
    saved: dict[str, int] = {}
    try:
        with fake_mode, ledger_mode, torch.set_grad_enabled(training):
            ledger_mode.row = where
            out = copied(*args, **kwargs)
            if training:
                targets = trainable_outputs(out)
                if not targets:
                    raise NothingToTrain(f"{where}'s outputs need no gradient (every parameter is frozen): nothing to train")
                ledger_mode.phase, ledger_mode.row = "loss", "loss"
                loss = targets[0].sum()
                for t in targets[1:]:
                    loss = loss + t.sum()
                del targets
                out = None
                saved = ledger.live_by_row()  # what autograd holds of each row's outputs (and the loss)
                ledger_mode.phase = "backward"
                loss.backward()
                del loss
                gradient_bytes = sum(
                    ledger.sizes.get(int(p.grad.untyped_storage()._cdata), 0) for p in trainable if p.grad is not None
                )
                if opt is not None:
                    ledger_mode.phase, ledger_mode.row = "optimizer", "optimizer"
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                else:
                    for p in trainable:
                        p.grad = None
            out = None
    except CostModelError:
        raise
    except Exception as exc:
        if needs_values(exc):
            raise NeedsRealValues(
                f"{where}'s {'training step' if training else 'forward'} on {spec.describe(dtype)} needs tensor values "
                f"({str(exc).splitlines()[0][:80]}): the memory ledger runs on fake tensors and models shape-determined code only"
            ) from exc
        raise model_error(exc, spec.describe(dtype), where) from exc
    ledger.closed = True
    state_bytes = ledger.resident_at_start.get("optimizer state", 0)
    return StepRecord(
        ledger=ledger,
        rows=rows,
        row_ops=row_ops,
        gradient_bytes=gradient_bytes,
        optimizer_state_bytes=state_bytes,
        trainable_params=sum(p.numel() for p in trainable),
        frozen_params=sum(p.numel() for p in params if not p.requires_grad),
        inputs=spec,
        saved_by_row=saved,
    )
