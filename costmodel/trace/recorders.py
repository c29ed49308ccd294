"""The aten-op recorder: every op a node (or the aten-level walk) runs, as an AtenCall the rules cost;
the function-level recorder that groups the ops of one ``F.linear``; eager dispatch of fused module paths."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch._prims_common import suggest_memory_format
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.model_errors import OutOfTime
from costmodel.trace.module_walk import module_paths
from costmodel.trace.pending import as_meta, distinct_tensors, tensors_in


class WritesShared(Exception):
    """An op was about to write a storage the run shares with the user's model (``OpRecorder.guarded``)."""


@functools.cache
def _written_arguments(func: Any) -> tuple[tuple[int, str], ...]:
    """(position, name) of the arguments ``func`` writes (its schema marks them ``Tensor(a!)``)."""
    return tuple((i, a.name) for i, a in enumerate(func._schema.arguments) if a.alias_info is not None and a.alias_info.is_write)


def _writes_guarded(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], guarded: frozenset[int]) -> bool:
    """Whether ``func`` would write a tensor whose storage is in ``guarded``."""
    for position, name in _written_arguments(func):
        value = args[position] if position < len(args) else kwargs.get(name)
        for t in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(t, torch.Tensor) and storage_key(t) in guarded:
                return True
    return False


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
        self.deadline: float | None = None  # time.monotonic() past which the walk stops (OutOfTime)
        self.guarded: frozenset[int] = frozenset()  # storages shared with the user's model: a write raises WritesShared
        self.write_refused = False  # set when it did (a forward may catch the error and go on)

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """False: torch would otherwise wrap ``__torch_dispatch__`` in ``torch._dynamo.disable``, whose first
        call imports torch._dynamo (1.5–2 s) though nothing here is ever compiled."""
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime("the walk passed its time limit")
        if _probing[0]:
            if str(func._schema.name) not in _FUSED_KERNELS:
                raise _SlowPath
            _probing[0] = False
        if self.guarded and _writes_guarded(func, args, kwargs, self.guarded):
            self.write_refused = True
            raise WritesShared(f"{func} would write a parameter shared with the model")
        out = _shape_preserving(func, args, kwargs)
        if out is None:
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

    def add_all(self, calls: tuple[AtenCall, ...] | list[AtenCall]) -> None:
        """Append calls a shape rule or the memo gives: each ``F.linear`` group among them gets a fresh
        number, as if the calls had just run (groups never span nodes or rows)."""
        fresh: dict[int, int] = {}
        for call in calls:
            if call.group:
                if call.group not in fresh:
                    self.groups += 1
                    fresh[call.group] = self.groups
                call = dataclasses.replace(call, group=fresh[call.group])
            self.add(call)


#: Element-wise ops of one tensor (and scalar options) whose output has the input's shape, dtype and
#: layout: on symbolic sizes their fake kernels decompose into prims whose size arithmetic costs ~30 ms
#: per distinct shape, so they are answered with ``empty_like`` (the same geometry: tested).
_UNARY_SAME_GEOMETRY = frozenset(
    {
        "aten::relu", "aten::gelu", "aten::silu", "aten::sigmoid", "aten::tanh", "aten::hardswish",
        "aten::hardsigmoid", "aten::hardtanh", "aten::leaky_relu", "aten::elu", "aten::mish", "aten::exp",
        "aten::neg", "aten::rsqrt", "aten::sqrt", "aten::abs",
    }
)  # fmt: skip


def _shape_preserving(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The output of an op on a fake tensor computed from its geometry alone: on symbolic sizes a
    ``_UNARY_SAME_GEOMETRY`` op by ``empty_like``, inference batch norm, a contiguous 2-D convolution, a
    constant pad by torch's reference; on any sizes a 2-D resampling and layer norm. None for anything
    else and for real tensors (the op runs as usual)."""
    if not args or not isinstance(args[0], FakeTensor):
        return None  # real tensors (the walk's fallback for value-dependent code) run: their values matter
    name = str(func._schema.name)
    inference = name != "aten::native_batch_norm" or (len(args) > 5 and args[5] is False)
    if name in _NORM_NO_STATISTICS and inference and args and _symbolic(args[0]) and str(func._overloadname) == "default":
        x = args[0]  # inference batch norm: the output like the input, and two empty statistics
        return torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,))
    if name == "aten::convolution" and str(func._overloadname) == "default" and args and _symbolic(args[0]):
        return _convolution_output(*args)
    if name in _RESAMPLING and str(func._overloadname) == "default":
        return _resampled(args[0], args[1])
    if name == "aten::native_layer_norm" and str(func._overloadname) == "default" and len(args) >= 2:
        return _layer_norm_outputs(args[0], args[1])
    if name == "aten::constant_pad_nd" and args and _symbolic(args[0]) and any(type(p) is torch.SymInt for p in args[1]):
        # the C++ kernel takes only numbers as pads; torch's Python reference computes the same padded tensor
        return torch._refs.constant_pad_nd(*args, **kwargs)
    if not args or name not in _UNARY_SAME_GEOMETRY or name.endswith("_"):
        return None
    x = args[0]
    if not isinstance(x, torch.Tensor) or any(isinstance(a, torch.Tensor) for a in (*args[1:], *kwargs.values())):
        return None
    if not _symbolic(x) or str(func._overloadname) != "default":
        return None
    return torch.empty_like(x)


def _convolution_output(
    x: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, transposed: Any, *rest: Any
) -> Any:
    """A 2-D, non-transposed convolution of a contiguous input with symbolic sizes: a contiguous output of
    size ⌊(h + 2p − d·(k − 1) − 1)/s⌋ + 1 per side (torch's own formula), else None (the fake kernel runs)."""
    if transposed or x.dim() != 4 or weight.dim() != 4 or not x.is_contiguous():
        return None
    sizes = [(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (weight.shape[2 + i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    return x.new_empty((x.shape[0], weight.shape[0], *sizes))


#: 2-D resampling given its output size: FakeTensorMode decomposes bilinear and bicubic into dozens of
#: indexing ops (75 ms a call on numbers, more on symbolic sizes), where the output is one new tensor
_RESAMPLING = frozenset({"aten::upsample_nearest2d", "aten::upsample_bilinear2d", "aten::upsample_bicubic2d"})


def _resampled(x: Any, output_size: Any) -> Any:
    """The output of a 2-D resampling of an N×C×H×W input to ``output_size``: a new N×C×h×w tensor of the
    input's dtype and device in the memory format torch suggests for the input (channels-last for a
    channels-last input, else contiguous), as the kernels allocate it; None for anything else."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not isinstance(output_size, (list, tuple)) or len(output_size) != 2:
        return None
    size = (x.shape[0], x.shape[1], *output_size)
    return torch.empty(size, dtype=x.dtype, device=x.device, memory_format=suggest_memory_format(x))


def _layer_norm_outputs(x: Any, normalized_shape: Any) -> Any:
    """``native_layer_norm``'s outputs on a float32/float64 CPU input of any layout: the normalised tensor
    (contiguous, the input's shape) and its mean and 1/std (the input's shape with the normalised
    dimensions at 1), as its fake kernel returns them without decomposing into a dozen ops; else None."""
    if not isinstance(x, torch.Tensor) or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return None
    dims = len(normalized_shape) if isinstance(normalized_shape, (list, tuple)) else -1
    if dims < 1 or dims > x.dim() or list(x.shape[x.dim() - dims :]) != list(normalized_shape):
        return None  # the fake kernel raises its own error
    stats = (*x.shape[: x.dim() - dims], *([1] * dims))
    return (
        torch.empty(tuple(x.shape), dtype=x.dtype, device=x.device),
        torch.empty(stats, dtype=x.dtype, device=x.device),
        torch.empty(stats, dtype=x.dtype, device=x.device),
    )


def _symbolic(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and any(type(s) is torch.SymInt for s in x.shape)


#: Inference batch norm, whose fake kernel decomposes on symbolic sizes (see ``_shape_preserving``).
_NORM_NO_STATISTICS = frozenset({"aten::_native_batch_norm_legit_no_training", "aten::native_batch_norm"})


def to_call(op: str, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, module: nn.Module | None = None) -> AtenCall:
    """The AtenCall of one op run: distinct input tensors (by identity), outputs, and whether every
    output aliases an input."""
    inputs = distinct_tensors((args, kwargs))
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
        out_storages=tuple(storage_key(t) for t in outputs),
    )


def storage_key(t: torch.Tensor) -> int:
    """Identity of a tensor's storage (shared by its views), 0 when it has none."""
    try:
        return int(t.untyped_storage()._cdata)
    except (RuntimeError, NotImplementedError, AttributeError):  # no storage (sparse, nested, pending)
        return 0


def _is_alias(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch._C._is_alias_of(a, b))  # type: ignore[attr-defined]


#: Functions recorded as one op, whatever backend or decomposition runs them underneath.
_LINEAR = torch._C._nn.linear


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


def dispatch_as_eager(root: nn.Module) -> None:
    """Let each fast-path module of ``root`` (a private copy) decide its kernel as eager inference does:
    its forward runs with torch-function overrides disabled, so ``nn.MultiheadAttention`` in eval/no_grad
    calls ``_native_multi_head_attention`` when PyTorch's own fast-path conditions hold (and its
    decomposed path, whose ops are recorded as dispatched, when they do not)."""
    for _, module in module_paths(root):
        base = next((cls for cls in _FAST_PATH_MODULES if isinstance(module, cls)), None)
        if base is not None and type(module).forward is base.forward:
            module.forward = functools.partial(_without_torch_function, base.forward, module)


class _SlowPath(Exception):
    """The probe saw the module start on its decomposed path."""


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
def recording(mode: FakeTensorMode | None, deadline: float | None = None) -> Iterator[OpRecorder]:
    """Run ops under ``mode`` (fake, or None for real tensors) with a fresh recorder; no_grad; past
    ``deadline`` (``time.monotonic()``) the next op raises OutOfTime."""
    recorder = OpRecorder()
    recorder.deadline = deadline
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.no_grad())
        if mode is not None:
            stack.enter_context(mode)
        stack.enter_context(recorder)
        stack.enter_context(CompositeRecorder(recorder))
        yield recorder


_COMPOSITES: dict[Any, str] = {torch._C._nn.scaled_dot_product_attention: "aten::scaled_dot_product_attention"}


#: Modules whose forward takes a fused inference kernel only when no torch-function override is active
#: (``torch.overrides.has_torch_function``): the recorder's own torch-function mode must not turn it off.
_FAST_PATH_MODULES: tuple[type[nn.Module], ...] = (nn.MultiheadAttention,)


#: True while a fast-path module's forward is probed: the first op dispatched decides the path.
_probing = [False]
