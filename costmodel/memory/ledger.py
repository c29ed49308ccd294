"""The storage ledger: which tensor storages are alive after every aten op, on fake tensors.

A storage is allocated by the first op that returns it and freed when the last Python or C++ reference
to it goes (a weak-reference finalizer on the storage object fires exactly then: CPython frees by
reference count, as eager PyTorch does). Views and in-place results return a storage already in the
ledger, so they allocate nothing; what autograd saves for backward keeps its storage alive, so saved
tensors are counted as they are really saved. Nothing real is allocated: the storages are fake.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from costmodel.memory.workspace import workspace_bytes
from costmodel.rules.base import AtenCall
from costmodel.trace.pending import tensors_in
from costmodel.trace.recorders import to_call

#: CUDA's caching allocator hands out blocks in multiples of 512 bytes (``round_size`` in c10/cuda).
CUDA_BLOCK = 512


def allocated_bytes(nbytes: int, device: torch.device) -> int:
    """Bytes the allocator records for a storage of ``nbytes``: exact on CPU (the profiler reports the
    size asked for), ⌈nbytes/512⌉·512 on CUDA (the caching allocator's block rounding)."""
    if device.type == "cuda" and nbytes:
        return -(-nbytes // CUDA_BLOCK) * CUDA_BLOCK
    return nbytes


def allocated_workspace(nbytes: int, device: torch.device) -> int:
    """Scratch bytes as the allocator records them (the same rounding as a storage)."""
    return allocated_bytes(nbytes, device)


@dataclass
class LedgerOp:
    """One aten op of the timeline: the call (for costing), the row it belongs to, its phase (forward,
    loss, backward, optimizer), the bytes of new storages it returned, the live bytes with its outputs
    allocated and its inputs still alive, the kernel's scratch bytes on top (``workspace``), and the
    bytes freed after it."""

    call: AtenCall
    row: str
    phase: str
    allocated: int
    live: int
    workspace: int = 0
    freed: int = 0

    @property
    def high(self) -> int:
        """The op's high mark: live bytes with its outputs and scratch allocated, inputs still alive."""
        return self.live + self.workspace

    @property
    def live_after(self) -> int:
        """Live bytes once the op's inputs that nothing else holds are gone."""
        return self.live - self.freed


@dataclass
class Ledger:
    """Live storages by key, with their bytes and the kind of tensor they hold (resident ones:
    parameters, buffers, inputs, optimizer state, gradients; ``activation`` for what ops return)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    sizes: dict[int, int] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    rows: dict[int, str] = field(default_factory=dict)  # the row whose op allocated each activation
    live: int = 0
    ops: list[LedgerOp] = field(default_factory=list)
    resident_at_start: dict[str, int] = field(default_factory=dict)
    closed: bool = False  # set when the step ends: later frees (the copy going away) are not the step's

    def admit(self, t: torch.Tensor, kind: str, row: str = "") -> int:
        """Record ``t``'s storage as live (once), with a finalizer that frees it; returns the bytes added."""
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return 0  # no storage (sparse, nested): nothing the allocator holds
        key = int(storage._cdata)
        if key in self.sizes:
            return 0
        nbytes = allocated_bytes(int(storage.nbytes()), t.device)
        self.sizes[key] = nbytes
        self.kinds[key] = kind
        if row:
            self.rows[key] = row
        self.live += nbytes
        weakref.finalize(storage, self._free, key)
        return nbytes

    def _free(self, key: int) -> None:
        if self.closed:
            return
        nbytes = self.sizes.pop(key, 0)
        self.kinds.pop(key, None)
        self.rows.pop(key, None)
        self.live -= nbytes
        if self.ops:
            self.ops[-1].freed += nbytes

    def resident(self, tensors: Sequence[torch.Tensor], kind: str) -> None:
        """Admit tensors that exist before the step (parameters, buffers, inputs, optimizer state)."""
        for t in tensors:
            added = self.admit(t, kind)
            if added:
                self.resident_at_start[kind] = self.resident_at_start.get(kind, 0) + added

    def live_by_row(self) -> dict[str, int]:
        """Live activation bytes by the row whose op allocated them."""
        out: dict[str, int] = {}
        for key, row in self.rows.items():
            out[row] = out.get(row, 0) + self.sizes.get(key, 0)
        return out


class LedgerMode(TorchDispatchMode):
    """Runs every op (under the fake mode beneath it) and books its new output storages in ``ledger``.

    ``row`` and ``phase`` are set by the step as it goes; in the backward, ``row_of_node`` names the
    forward row of the autograd node running now. An input storage the ledger has never seen (a tensor
    made before the step, a constant) is admitted as resident ``other``.
    """

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self.ledger = ledger
        self.row = ""
        self.phase = "forward"
        self.rows_by_sequence: dict[int, str] = {}  # autograd node sequence number → forward row
        self.record_calls = True

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func.namespace == "prim":
            return func(*args, **kwargs)
        ledger = self.ledger
        for t in tensors_in((args, kwargs)):
            if isinstance(t, torch.Tensor):
                added = ledger.admit(t, "other")
                if added:
                    ledger.resident_at_start["other"] = ledger.resident_at_start.get("other", 0) + added
        row = self.row
        if self.phase == "forward":
            # the autograd node of this op (if any) took the sequence number just before the current one
            self.rows_by_sequence.setdefault(torch._C._autograd._get_sequence_nr() - 1, row)
        elif self.phase == "backward":
            row = self.backward_row()
        out = func(*args, **kwargs)
        allocated = sum(ledger.admit(t, "activation", row) for t in tensors_in(out) if isinstance(t, torch.Tensor))
        name = str(func._schema.name)
        call = to_call(name, args, kwargs, out)
        scratch = allocated_workspace(workspace_bytes(name, args, tuple(tensors_in(out))), ledger.device)
        ledger.ops.append(LedgerOp(call, row, self.phase, allocated, ledger.live, scratch))
        return out

    def backward_row(self) -> str:
        """The forward row whose autograd node runs now (gradient accumulation: 'gradients')."""
        node = torch._C._current_autograd_node()
        if node is None:
            return self.row
        sequence = int(node._sequence_nr())
        row = self.rows_by_sequence.get(sequence)
        if row is None:
            return "gradients" if "AccumulateGrad" in node.name() else self.row
        return row
