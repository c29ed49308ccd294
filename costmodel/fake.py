"""Shape-only execution: a fake-tensor copy of the user's model, an aten-op recorder, and a guard
that leaves the process as it was.

Nothing here touches the user's tensors: the model is copied module by module (a structural copy:
new module objects whose parameters, buffers and tensor attributes are fake tensors with the same
shapes, dtypes and devices; hooks are not copied), and every op runs under ``FakeTensorMode``,
torch's own shape-only machinery, so no real compute happens and nothing is allocated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import logging
import os
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from costmodel.rules.base import AtenCall
from costmodel.tensors import PendingTensor, TensorMeta, as_meta, tensors_in


def new_fake_mode() -> FakeTensorMode:
    """A FakeTensorMode that also accepts real tensors (constants created by the model), faking them."""
    return FakeTensorMode(allow_non_fake_inputs=True)


class LazyFakeMode:
    """A FakeTensorMode made on first use: constructing one imports torch._dynamo (about a second of
    start-up), which a model costed entirely by closed-form shape rules never needs."""

    def __init__(self) -> None:
        self._mode: FakeTensorMode | None = None

    def get(self) -> FakeTensorMode:
        """The mode, created now if it does not exist yet."""
        if self._mode is None:
            self._mode = new_fake_mode()
        return self._mode


def pending_input(spec: Any, dtype: torch.dtype, mode: LazyFakeMode) -> PendingTensor:
    """A model input (a ``TensorSpec``) as a contiguous CPU PendingTensor: its dtype, or ``dtype``."""
    shape = tuple(spec.shape)
    return PendingTensor(shape, contiguous_strides(shape), 0, spec.dtype or dtype, torch.device("cpu"), mode)


def meta_tensor_map(dtype: torch.dtype | None, devices: dict[int, torch.device], keep: list[torch.Tensor]) -> TensorMap:
    """Maps a real tensor to a meta tensor of the same geometry (memoised; floating-point tensors cast
    to ``dtype``), recording the real device in ``devices`` by the meta tensor's id. Meta tensors cost
    a microsecond and no mode: the shape rules read them; a node that must run turns them into fake
    tensors of the recorded device (``FakeTwins``). ``keep`` holds every meta tensor, so that an id in
    ``devices`` never comes to name another object once a module's tensors are swapped for fakes."""
    memo: dict[int, torch.Tensor] = {}

    def meta(t: torch.Tensor) -> torch.Tensor:
        key = id(t)
        if key in memo:
            return memo[key]
        plain = type(t) in (torch.Tensor, nn.Parameter) and t.layout is torch.strided and not t.is_quantized
        if not plain:  # a fake tensor already, or a layout the meta device lacks: kept as it is
            m = nn.Parameter(t.detach(), requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else t.detach()
        else:
            cast = dtype is not None and t.is_floating_point() and t.dtype != dtype
            stride = contiguous_strides(t.shape) if cast and t.is_contiguous() else t.stride()
            offset = 0 if cast else int(t.storage_offset())
            m = _meta_tensor(tuple(t.shape), stride, offset, dtype if cast and dtype is not None else t.dtype)
            if isinstance(t, nn.Parameter):
                m = nn.Parameter(m, requires_grad=t.requires_grad)
            devices[id(m)] = t.device
            keep.append(m)  # ids stay valid: the tensor lives as long as the trace
        memo[key] = m
        return m

    return meta


class FakeTwins:
    """The fake twin of each meta tensor of the traced copy (one per tensor, so shared stays shared)."""

    def __init__(self, mode: LazyFakeMode, devices: dict[int, torch.device], keep: list[torch.Tensor]) -> None:
        self.mode = mode
        self.devices = devices
        self.keep = keep
        self._twins: dict[int, torch.Tensor] = {}

    def owns(self, t: Any) -> bool:
        """Whether ``t`` is one of the copy's meta tensors."""
        return id(t) in self.devices

    def of(self, t: torch.Tensor) -> torch.Tensor:
        """The fake tensor standing for meta tensor ``t`` on its real device."""
        twin = self._twins.get(id(t))
        if twin is None:
            geometry = (tuple(t.shape), t.stride(), int(t.storage_offset()), t.dtype)
            twin = fake_from_meta(self.mode.get(), *geometry, self.devices[id(t)], t.requires_grad)
            if isinstance(t, nn.Parameter):
                twin._is_param = True  # type: ignore[attr-defined]
            self._twins[id(t)] = twin
        return twin

    def swap_into(self, module: nn.Module) -> None:
        """Replace the meta tensors of ``module`` and its sub-modules by their fake twins, in place
        (the module is about to run under FakeTensorMode)."""
        for sub in module.modules():
            tables: tuple[dict[str, Any], ...] = (sub._parameters, sub._buffers)
            for table in tables:
                for name, t in table.items():
                    if t is not None and self.owns(t):
                        table[name] = self.of(t)
            for name, value in list(sub.__dict__.items()):
                if isinstance(value, torch.Tensor) and self.owns(value):
                    sub.__dict__[name] = self.of(value)


@contextlib.contextmanager
def fake_errors_unlogged() -> Iterator[None]:
    """Silence FakeTensorMode's own error log (a traceback on stderr for every op that raises): our
    one-line ShapeMismatch says what failed. The logger's state is restored on exit."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, restoring its state on exit."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@contextlib.contextmanager
def process_state_preserved() -> Iterator[None]:
    """Restore the global RNGs (torch, Python's, numpy's), environment variables, grad mode, default dtype
    and thread count on exit.
    The cyclic garbage collector is paused meanwhile (analysis allocates many short-lived objects;
    full collections over torch's heap would otherwise cost a third of the time on large graphs)."""
    environment = dict(os.environ)
    recursion = sys.getrecursionlimit()
    sys.setrecursionlimit(max(recursion, _RECURSION_LIMIT))  # deeply nested models run eagerly; tracing adds frames
    numpy_rng = _numpy_rng_state()
    torch_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    py_rng = random.getstate()
    grad = torch.is_grad_enabled()
    default_dtype = torch.get_default_dtype()
    threads = torch.get_num_threads()
    try:
        with gc_paused():
            yield
    finally:
        torch.set_rng_state(torch_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        random.setstate(py_rng)
        _restore_numpy_rng(numpy_rng)
        if os.environ != environment:  # torch sets TORCHINDUCTOR_CACHE_DIR and the like on first use
            for key in set(os.environ) - set(environment):
                del os.environ[key]
            os.environ.update(environment)
        sys.setrecursionlimit(recursion)
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(default_dtype)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


#: Python's recursion limit during analysis (restored after): fx and the fake run add frames per module.
_RECURSION_LIMIT = 2500


def _numpy_rng_state() -> Any:
    """numpy's global RNG state, if numpy is already imported (it is never imported for this)."""
    numpy = sys.modules.get("numpy")
    return None if numpy is None else numpy.random.get_state()


def _restore_numpy_rng(state: Any) -> None:
    numpy = sys.modules.get("numpy")
    if state is not None and numpy is not None:
        numpy.random.set_state(state)


TensorMap = Callable[[torch.Tensor], torch.Tensor]


def fake_like(mode: FakeTensorMode, t: torch.Tensor) -> torch.Tensor:
    """A fake tensor with ``t``'s shape, strides, offset, dtype, device and requires_grad, built
    directly on a meta tensor (about 10 µs, against 80 µs for ``mode.from_tensor``); tensors that are
    not plain dense strided ones (sparse, quantized, subclasses) go through ``from_tensor``."""
    if type(t) is not torch.Tensor and type(t) is not nn.Parameter or t.layout is not torch.strided or t.is_quantized:
        return mode.from_tensor(t.detach())
    return fake_from_meta(mode, tuple(t.shape), t.stride(), int(t.storage_offset()), t.dtype, t.device, t.requires_grad)


def fake_from_meta(
    mode: FakeTensorMode,
    shape: tuple[int, ...],
    stride: tuple[int, ...],
    offset: int,
    dtype: torch.dtype,
    device: torch.device,
    requires_grad: bool = False,
) -> torch.Tensor:
    """A fake tensor of exactly this geometry (no data exists: the storage is a meta one)."""
    if torch._C._len_torch_dispatch_stack() or torch._C._len_torch_function_stack():
        # built beneath the active modes: the meta tensor is scaffolding, not an op of the model
        with torch._C.DisableTorchFunction(), torch._C._ExcludeDispatchKeyGuard(_PYTHON_KEYS):
            meta = _meta_tensor(shape, stride, offset, dtype)
    else:
        meta = _meta_tensor(shape, stride, offset, dtype)
    if requires_grad:
        meta.requires_grad_(True)
    return FakeTensor(mode, meta, device)


def _meta_tensor(shape: tuple[int, ...], stride: tuple[int, ...], offset: int, dtype: torch.dtype) -> torch.Tensor:
    if offset:
        span = 1 + sum((n - 1) * s for n, s in zip(shape, stride) if n > 0)
        return torch.empty(offset + span, dtype=dtype, device="meta").as_strided(shape, stride, offset)
    return torch.empty_strided(shape, stride, dtype=dtype, device="meta")


_PYTHON_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.Python) | torch._C.DispatchKeySet(
    torch._C.DispatchKey.PythonTLSSnapshot
)


def fake_tensor_map(mode: FakeTensorMode, dtype: torch.dtype | None) -> TensorMap:
    """Maps a real tensor to its fake twin (memoised, so shared tensors stay shared); floating-point
    tensors are cast to ``dtype`` when given. Parameters stay parameters (``isinstance`` holds)."""
    memo: dict[int, torch.Tensor] = {}

    def fake(t: torch.Tensor) -> torch.Tensor:
        key = id(t)
        if key in memo:
            return memo[key]
        if isinstance(t, FakeTensor):
            f = t.detach()
        elif dtype is not None and t.is_floating_point() and t.dtype != dtype and t.layout is torch.strided:
            strides = contiguous_strides(t.shape) if t.is_contiguous() else t.stride()
            f = fake_from_meta(mode, tuple(t.shape), strides, 0, dtype, t.device)
        else:
            f = fake_like(mode, t.detach())
        if isinstance(t, nn.Parameter):
            if not f.requires_grad and t.requires_grad:
                f.requires_grad_(True)
            f._is_param = True  # type: ignore[attr-defined]  # how torch marks a Parameter of a tensor subclass
        memo[key] = f
        return f

    return fake


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Row-major strides of ``shape`` (what ``torch.empty(shape).stride()`` returns)."""
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def real_tensor_map(dtype: torch.dtype | None) -> TensorMap:
    """Maps a real tensor to a private copy (memoised), cast to ``dtype`` when floating-point: the
    fallback for models whose forward needs real values."""
    memo: dict[int, torch.Tensor] = {}

    def clone(t: torch.Tensor) -> torch.Tensor:
        key = id(t)
        if key not in memo:
            with torch.no_grad():
                c = t.detach().clone()
                if dtype is not None and c.is_floating_point():
                    c = c.to(dtype)
            memo[key] = nn.Parameter(c, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else c
        return memo[key]

    return clone


class OpRecorder(TorchDispatchMode):
    """Records every aten op that runs, as an ``AtenCall`` (shapes only), into ``calls``.

    ``muted`` > 0 stops recording (inside a composite already recorded as a whole). ``owner`` names
    the module running now (the fallback walk sets it through hooks).
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[AtenCall] = []
        self.owners: list[str | None] = []
        self.muted = 0
        self.owner: str | None = None
        self.group = 0  # the F.linear call running now (0: none), see CompositeRecorder
        self.groups = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if _probing[0]:
            if str(func._schema.name) not in _FUSED_KERNELS:
                raise _SlowPath
            _probing[0] = False
        out = func(*args, **kwargs)
        if not self.muted and func.namespace != "prim":
            self.add(to_call(str(func._schema.name), args, kwargs, out))
        return out

    def add(self, call: AtenCall) -> None:
        """Append one call, owned by the current module (and tagged with the ``F.linear`` call it runs in)."""
        if self.group:
            call = dataclasses.replace(call, group=self.group)
        self.calls.append(call)
        self.owners.append(self.owner)


def to_call(op: str, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, module: nn.Module | None = None) -> AtenCall:
    """The AtenCall of one op run: distinct input tensors (by identity), outputs, and whether every
    output aliases an input."""
    seen: set[int] = set()
    inputs = []
    for t in tensors_in((args, kwargs)):
        if id(t) not in seen:
            seen.add(id(t))
            inputs.append(t)
    outputs = tensors_in(out)
    aliases = bool(outputs) and all(any(_is_alias(o, i) for i in inputs) for o in outputs)
    return AtenCall(
        op=op,
        args=as_meta(tuple(args)),
        kwargs=as_meta(dict(kwargs)),
        inputs=tuple(TensorMeta.of(t) for t in inputs),
        outputs=tuple(TensorMeta.of(t) for t in outputs),
        aliases=aliases,
        module=module,
        storages=tuple(storage_key(t) for t in inputs),
    )


def storage_key(t: torch.Tensor) -> int:
    """Identity of a tensor's storage (shared by its views), 0 when it has none."""
    try:
        return int(t.untyped_storage()._cdata)
    except (RuntimeError, NotImplementedError):  # a tensor without storage (sparse, nested)
        return 0


def _is_alias(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch._C._is_alias_of(a, b))  # type: ignore[attr-defined]


#: Functions recorded as one op, whatever backend or decomposition runs them underneath.
_LINEAR = torch._C._nn.linear
_COMPOSITES: dict[Any, str] = {torch._C._nn.scaled_dot_product_attention: "aten::scaled_dot_product_attention"}


class CompositeRecorder(TorchFunctionMode):
    """Records calls of the functions in ``_COMPOSITES`` (scaled_dot_product_attention) as one op, so
    that a row's cost does not depend on which fused or math kernel the backend picks."""

    def __init__(self, recorder: OpRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if func is _LINEAR:  # tag its ops: a bias add it dispatches is costed as addmm's (costing)
            outer = self.recorder.group
            self.recorder.groups += 1
            self.recorder.group = self.recorder.groups
            try:
                return func(*args, **kwargs)
            finally:
                self.recorder.group = outer
        name = _COMPOSITES.get(func)
        if name is None or self.recorder.muted:
            return func(*args, **kwargs)
        self.recorder.muted += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self.recorder.muted -= 1
        self.recorder.add(to_call(name, args, kwargs, out))
        return out


#: Modules whose forward takes a fused inference kernel only when no torch-function override is active
#: (``torch.overrides.has_torch_function``): the recorder's own torch-function mode must not turn it off.
_FAST_PATH_MODULES: tuple[type[nn.Module], ...] = (nn.MultiheadAttention,)


def dispatch_as_eager(root: nn.Module) -> None:
    """Let each fast-path module of ``root`` (a private copy) decide its kernel as eager inference does:
    its forward runs with torch-function overrides disabled, so ``nn.MultiheadAttention`` in eval/no_grad
    calls ``_native_multi_head_attention`` when PyTorch's own fast-path conditions hold (and its
    decomposed path, whose ops are recorded as dispatched, when they do not)."""
    for module in root.modules():
        base = next((cls for cls in _FAST_PATH_MODULES if isinstance(module, cls)), None)
        if base is not None and type(module).forward is base.forward:
            module.forward = functools.partial(_without_torch_function, base.forward, module)


class _SlowPath(Exception):
    """The probe saw the module start on its decomposed path."""


#: True while a fast-path module's forward is probed: the first op dispatched decides the path.
_probing = [False]
_FUSED_KERNELS = frozenset({"aten::_native_multi_head_attention"})


def _without_torch_function(forward: Callable[..., Any], module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """Run ``forward`` as eager inference would decide it: with torch-function overrides disabled. If the
    first op it dispatches is not the fused kernel (PyTorch's fast-path conditions do not hold), the
    probe stops before anything is recorded and the forward runs again as usual, so the decomposed path
    is recorded with the recorder's composites (attention as one op, a linear's bias with its product)."""
    _probing[0] = True
    try:
        with torch._C.DisableTorchFunction():
            return forward(module, *args, **kwargs)
    except _SlowPath:
        pass
    finally:
        _probing[0] = False
    return forward(module, *args, **kwargs)


@contextlib.contextmanager
def recording(mode: FakeTensorMode | None) -> Iterator[OpRecorder]:
    """Run ops under ``mode`` (fake, or None for real tensors) with a fresh recorder; no_grad."""
    recorder = OpRecorder()
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        if mode is not None:
            stack.enter_context(mode)
        stack.enter_context(recorder)
        stack.enter_context(CompositeRecorder(recorder))
        yield recorder
