"""Fake tensors: torch's FakeTensorMode made lazily, fake twins of the user's parameters and buffers, and
fake tensors built from metadata — shapes, dtypes and devices with no storage, so no real compute happens
and nothing is allocated."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode


def new_fake_mode() -> FakeTensorMode:
    """A FakeTensorMode that also accepts real tensors (constants created by the model), faking them."""
    return FakeTensorMode(allow_non_fake_inputs=True)


class LazyFakeMode:
    """A FakeTensorMode made on first use: constructing one imports torch._dynamo (about a second of
    start-up), which a model costed entirely by closed-form shape rules never needs."""

    def __init__(self, mode: FakeTensorMode | None = None) -> None:
        """``mode``: a mode made by the caller (one with a ``ShapeEnv`` for symbolic sizes), or None."""
        self._mode: FakeTensorMode | None = mode

    @property
    def symbolic(self) -> bool:
        """Whether the mode tracks symbolic sizes (one the caller made with a ``ShapeEnv``)."""
        return self._mode is not None and self._mode.shape_env is not None

    def get(self) -> FakeTensorMode:
        """The mode, created now if it does not exist yet."""
        if self._mode is None:
            self._mode = new_fake_mode()
        return self._mode


_PLAIN_ATTRIBUTE = (bool, int, float, str, type(None))


def carry_attributes(original: torch.Tensor, stand_in: torch.Tensor) -> None:
    """Give ``stand_in`` the Python attributes of ``original`` that are plain values (a flag such as
    ``_no_weight_decay``, a quantisation marker), so that ``hasattr``/``getattr`` in a forward answer as on
    the user's tensor; mutable values stay behind (nothing of the copy may reach the user's state)."""
    attributes = getattr(original, "__dict__", None)
    if attributes:
        stand_in.__dict__.update({k: v for k, v in attributes.items() if type(v) in _PLAIN_ATTRIBUTE})


def holds_known_value(t: torch.Tensor) -> bool:
    """Whether a stand-in of ``t`` keeps its value (``KnownValues``): a buffer or plain tensor attribute
    (not a parameter) of at most one element on the CPU — a stride or kernel size kept as a tensor
    (Encodec's padding arithmetic), a step counter, a scale. Such values decide Python control flow
    (``max(pad_left, pad_right)``) and cost nothing to carry."""
    return (
        type(t) is torch.Tensor
        and t.numel() <= 1
        and t.layout is torch.strided
        and t.device.type == "cpu"
        and not t.is_quantized
        and not t.is_complex()
    )


class KnownValues:
    """The values of the copy's one-element tensors (``holds_known_value``) by the stand-in's id: each
    read from the user's tensor only when asked (most models never ask), as a private clone cast to the
    analysis dtype when floating, so no op of the analysis can write the user's tensor."""

    def __init__(self, dtype: torch.dtype | None) -> None:
        self.dtype = dtype
        self._originals: dict[int, torch.Tensor] = {}
        self._values: dict[int, torch.Tensor] = {}

    def add(self, stand_in: torch.Tensor, original: torch.Tensor) -> None:
        """Record that ``stand_in`` holds the value of the user's ``original``."""
        self._originals[id(stand_in)] = original

    def __contains__(self, stand_in: Any) -> bool:
        return id(stand_in) in self._originals

    def __bool__(self) -> bool:
        return bool(self._originals)

    def forget(self, stand_in: Any) -> None:
        """Record that ``stand_in`` no longer holds a known value (a node wrote into it without running)."""
        self._originals.pop(id(stand_in), None)
        self._values.pop(id(stand_in), None)

    def get(self, stand_in: Any) -> torch.Tensor | None:
        """The value ``stand_in`` holds, or None."""
        key = id(stand_in)
        value = self._values.get(key)
        if value is None and key in self._originals:
            with torch.no_grad():
                value = self._originals[key].detach().clone()
                if self.dtype is not None and value.is_floating_point():
                    value = value.to(self.dtype)
            self._values[key] = value
        return value


def meta_tensor_map(
    dtype: torch.dtype | None,
    devices: dict[int, torch.device],
    keep: list[torch.Tensor],
    constants: KnownValues | None = None,
) -> TensorMap:
    """Maps a real tensor to a meta tensor of the same geometry (memoised; floating-point tensors cast
    to ``dtype``), recording the real device in ``devices`` by the meta tensor's id. Meta tensors cost
    a microsecond and no mode: the shape rules read them; a node that must run turns them into fake
    tensors of the recorded device (``FakeTwins``). ``keep`` holds every meta tensor, so that an id in
    ``devices`` never comes to name another object once a module's tensors are swapped for fakes.
    ``constants``: where given, records which meta tensors hold a value they keep (``holds_known_value``)."""
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
            m = meta_tensor(tuple(t.shape), stride, offset, dtype if cast and dtype is not None else t.dtype)
            if isinstance(t, nn.Parameter):
                m = nn.Parameter(m, requires_grad=t.requires_grad)
            devices[id(m)] = t.device
            keep.append(m)  # ids stay valid: the tensor lives as long as the trace
            if constants is not None and holds_known_value(t):
                constants.add(m, t)
        carry_attributes(t, m)
        memo[key] = m
        return m

    return meta


class FakeTwins:
    """The fake twin of each meta tensor of the traced copy (one per tensor, so shared stays shared)."""

    def __init__(
        self,
        mode: LazyFakeMode,
        devices: dict[int, torch.device],
        keep: list[torch.Tensor],
        constants: KnownValues | None = None,
    ) -> None:
        self.mode = mode
        self.devices = devices
        self.keep = keep
        self.constants = constants if constants is not None else KnownValues(None)  # the values twins keep
        self._twins: dict[int, torch.Tensor] = {}

    def owns(self, t: Any) -> bool:
        """Whether ``t`` is one of the copy's meta tensors."""
        return id(t) in self.devices

    def of(self, t: torch.Tensor) -> torch.Tensor:
        """The fake tensor standing for meta tensor ``t`` on its real device."""
        twin = self._twins.get(id(t))
        value = self.constants.get(t) if twin is None and not self.mode.symbolic else None  # symbolic: sizes only
        if value is not None:
            mode = self.mode.get()
            twin = mode.fake_tensor_converter.from_real_tensor(mode, value, make_constant=True)
            self._twins[id(t)] = twin
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
            meta = meta_tensor(shape, stride, offset, dtype)
    else:
        meta = meta_tensor(shape, stride, offset, dtype)
    if requires_grad:
        meta.requires_grad_(True)
    return FakeTensor(mode, meta, device)


def meta_tensor(shape: tuple[int, ...], stride: tuple[int, ...], offset: int, dtype: torch.dtype) -> torch.Tensor:
    """A meta tensor of exactly this geometry (an offset view of a meta storage long enough for it)."""
    if offset:
        span = 1 + sum((n - 1) * s for n, s in zip(shape, stride) if n > 0)
        return torch.empty(offset + span, dtype=dtype, device="meta").as_strided(shape, stride, offset)
    return torch.empty_strided(shape, stride, dtype=dtype, device="meta")


_PYTHON_KEYS = torch._C.DispatchKeySet(torch._C.DispatchKey.Python) | torch._C.DispatchKeySet(
    torch._C.DispatchKey.PythonTLSSnapshot
)


def fake_tensor_map(mode: FakeTensorMode, dtype: torch.dtype | None, known_values: bool = False) -> TensorMap:
    """Maps a real tensor to its fake twin (memoised, so shared tensors stay shared); floating-point
    tensors are cast to ``dtype`` when given. Parameters stay parameters (``isinstance`` holds). With
    ``known_values``, a tensor ``holds_known_value`` accepts becomes a FakeTensorMode constant holding a
    clone of its value (~0.4 ms each: only for a forward that needs such values)."""
    memo: dict[int, torch.Tensor] = {}

    def fake(t: torch.Tensor) -> torch.Tensor:
        key = id(t)
        if key in memo:
            return memo[key]
        if isinstance(t, FakeTensor):
            f = t.detach()
        elif known_values and holds_known_value(t):
            with torch.no_grad():
                value = t.detach().clone()
                value = value.to(dtype) if dtype is not None and value.is_floating_point() else value
            f = mode.fake_tensor_converter.from_real_tensor(mode, value, make_constant=True)
        elif dtype is not None and t.is_floating_point() and t.dtype != dtype and t.layout is torch.strided:
            strides = contiguous_strides(t.shape) if t.is_contiguous() else t.stride()
            f = fake_from_meta(mode, tuple(t.shape), strides, 0, dtype, t.device)
        else:
            f = fake_like(mode, t.detach())
        if isinstance(t, nn.Parameter):
            if not f.requires_grad and t.requires_grad:
                f.requires_grad_(True)
            f._is_param = True  # type: ignore[attr-defined]  # how torch marks a Parameter of a tensor subclass
        carry_attributes(t, f)
        memo[key] = f
        return f

    return fake


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Row-major strides of ``shape`` (what ``torch.empty(shape).stride()`` returns). A symbolic size
    multiplies as it is, without ``max(size, 1)`` (a ShapeEnv evaluation per dimension): it differs only
    for an empty tensor, which is contiguous whatever its strides and holds no elements to count."""
    strides = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1) if type(size) is int else size
    return tuple(reversed(strides))


def real_tensor_map(dtype: torch.dtype | None, shared: list[torch.Tensor] | None = None) -> TensorMap:
    """Maps a real tensor to a private copy (memoised), cast to ``dtype`` when floating-point: the
    fallback for models whose forward needs real values. With ``shared`` (a list), a parameter that needs
    no cast is not copied: the copy's parameter holds the user's storage, and the tensor is appended to
    ``shared`` so that the run can refuse any write to it (``OpRecorder.guarded``); buffers, which
    forwards do write, are always copied."""
    memo: dict[int, torch.Tensor] = {}

    def clone(t: torch.Tensor) -> torch.Tensor:
        key = id(t)
        if key not in memo:
            cast = dtype is not None and t.is_floating_point() and t.dtype != dtype
            with torch.no_grad():
                if shared is not None and isinstance(t, nn.Parameter) and not cast:
                    c = t.detach()  # the same storage, read only (writes are refused while it runs)
                    shared.append(c)
                else:
                    c = t.detach().clone()
                    if dtype is not None and c.is_floating_point():
                        c = c.to(dtype)
            memo[key] = nn.Parameter(c, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else c
        return memo[key]

    return clone
