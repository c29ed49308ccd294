"""Outputs the meta run makes from geometry (``trace.meta_outputs``) are held to torch's own kernels run
for real on the CPU: every element-wise aten op that takes tensors and numbers, on row-major, broadcast
and expanded operands — same shape, strides and dtype wherever an output is made; on channels-last,
permuted and mixed operands to FakeTensorMode, whose Python reference decides their layout."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch

from costmodel.trace.meta_outputs import made_output


def _pointwise_overloads() -> list[Any]:
    """Every element-wise aten overload (not in place), all of ``torch.ops.aten`` loaded first."""
    for name in torch._C._dispatch_get_all_op_names():  # the packets load lazily: load every aten one
        if name.startswith("aten::"):
            getattr(torch.ops.aten, name.removeprefix("aten::").split(".")[0], None)
    found = []
    for name in dir(torch.ops.aten):
        try:
            packet = getattr(torch.ops.aten, name)
            overloads = packet.overloads()
        except Exception:  # noqa: BLE001,S112  # not an op packet
            continue
        for overload in overloads:
            func = getattr(packet, overload)
            if torch.Tag.pointwise in func.tags and not str(func._schema.name).endswith("_"):
                found.append(func)
    return found


def _operands(func: Any, tensors: list[torch.Tensor]) -> list[Any] | None:
    """Positional arguments for ``func``: tensors where it takes tensors (from ``tensors`` in turn), a
    number where it takes one; None where it needs anything else before its defaults."""
    out: list[Any] = []
    pool = iter(tensors)
    for argument in func._schema.arguments:
        if argument.kwarg_only or argument.has_default_value():
            break
        kind = str(argument.type)
        if kind == "Tensor":
            out.append(next(pool, tensors[-1]))
        elif kind in ("Scalar", "float", "number"):
            out.append(0.5)
        elif kind == "int":
            out.append(1)
        else:
            return None
    return out


_LAYOUTS = {
    "row-major": lambda: [torch.rand(2, 3, 4, 5) + 0.5, torch.rand(2, 3, 4, 5) + 0.5],
    "broadcast": lambda: [torch.rand(2, 3, 4, 5) + 0.5, torch.rand(3, 1, 5) + 0.5],
    "expanded": lambda: [torch.rand(2, 3, 4, 5) + 0.5, (torch.rand(2, 1, 4, 5) + 0.5).expand(2, 3, 4, 5)],
    "channels-last": lambda: [(torch.rand(2, 3, 4, 5) + 0.5).contiguous(memory_format=torch.channels_last)] * 2,
    "permuted": lambda: [(torch.rand(2, 5, 4, 3) + 0.5).transpose(1, 3)] * 2,
    "scalar tensor": lambda: [torch.rand(2, 3, 4, 5) + 0.5, torch.tensor(0.5, dtype=torch.float64)],
    "mixed": lambda: [(torch.rand(2, 5, 4, 3) + 0.5).transpose(1, 3), torch.rand(2, 3, 4, 5) + 0.5],
    "transposed rows": lambda: [(torch.rand(5, 1, 4, 3) + 0.5).permute(1, 3, 2, 0), torch.rand(4, 1) + 0.5],
}
#: layouts where only ops whose meta kernel is torch's Python reference get a made output: held to
#: FakeTensorMode (whose answer the reference is; a few CPU kernels, composite ones such as mvlgamma's,
#: lay out otherwise, and the trace follows FakeTensorMode everywhere)
_VOTED = ("channels-last", "permuted", "mixed", "transposed rows")


@pytest.mark.parametrize("layout", sorted(_LAYOUTS))
def test_made_element_wise_outputs_match_the_cpu_kernels(layout: str) -> None:
    made_any = 0
    for func in _pointwise_overloads():
        real = _LAYOUTS[layout]()
        args = _operands(func, real)
        if args is None:
            continue
        try:
            expected = _geometry(func(*args))
        except Exception:  # noqa: BLE001,S112  # an op these operands do not suit
            continue
        meta_args = [a.to("meta") if isinstance(a, torch.Tensor) else a for a in args]
        made = made_output(func, tuple(meta_args), {})
        if made is None:
            continue
        made_any += 1
        if layout in _VOTED:
            expected = _fake_geometry(func, tuple(args), {})
        assert _geometry(made) == expected, func
    assert made_any > 20


_aten = torch.ops.aten
_WINDOWS: list[tuple[Any, tuple[Any, ...]]] = [
    (_aten.max_pool2d_with_indices.default, ([3, 3], [2, 2], [1, 1])),
    (_aten.max_pool2d_with_indices.default, ([2, 2],)),
    (_aten.max_pool2d_with_indices.default, ([1, 3], [1, 2], [0, 1], [1, 1], True)),
    (_aten.max_pool2d_with_indices.default, ([3, 3], [1, 1], [1, 1], [2, 2])),
    (_aten.max_pool2d_with_indices.default, ([3, 3], [], [0, 0], [1, 1], True)),
    (_aten.max_pool2d_with_indices.default, ([3, 3], [1, 1], [2, 2])),  # padding over half the kernel
    (_aten.max_pool2d_with_indices.default, ([7, 7],)),  # a window larger than the input
    (_aten.avg_pool2d.default, ([3, 3], [2, 2], [1, 1])),
    (_aten.avg_pool2d.default, ([2, 2],)),
    (_aten.avg_pool2d.default, ([1, 3], [1, 2], [0, 1], True, False)),
    (_aten.avg_pool2d.default, ([3, 3], [1, 1], [1, 1], False, True, 4)),
    (_aten.avg_pool2d.default, ([3, 3], [1, 1], [1, 1], False, True, 0)),  # a zero divisor
    (_aten.adaptive_max_pool2d.default, ([1, 1],)),
    (_aten.adaptive_max_pool2d.default, ([3, 4],)),
    (_aten._adaptive_avg_pool2d.default, ([2, 3],)),
    (_aten._adaptive_avg_pool2d.default, ([0, 3],)),
    (_aten.pixel_unshuffle.default, (2,)),
    (_aten.pixel_unshuffle.default, (3,)),
]
_MAPS = {
    "row-major": lambda: torch.rand(2, 8, 6, 6),
    "unbatched": lambda: torch.rand(8, 6, 6),
    "one row": lambda: torch.rand(2, 8, 1, 6),
    "one channel": lambda: torch.rand(2, 1, 6, 6),
    "one pixel": lambda: torch.rand(2, 8, 1, 1),
    "channels-last": lambda: torch.rand(2, 8, 6, 6).contiguous(memory_format=torch.channels_last),
    "permuted": lambda: torch.rand(2, 6, 6, 8).permute(0, 3, 2, 1),
}


def _geometry(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape), value.stride(), value.dtype
    return tuple(_geometry(v) for v in value)


def _kernel_geometry(func: Any, args: tuple[Any, ...]) -> Any:
    """The geometry of ``func``'s outputs run for real on the CPU and by its meta kernel (asserted equal),
    or None when either kernel rejects the operands."""
    try:
        real = _geometry(func(*args))
        meta = _geometry(func(*(a.to("meta") if isinstance(a, torch.Tensor) else a for a in args)))
    except Exception:  # noqa: BLE001  # the kernel's own error: nothing may be made for these operands
        return None
    assert real == meta, func
    return real


@pytest.mark.parametrize("layout", sorted(_MAPS))
def test_made_pooling_outputs_match_the_cpu_and_meta_kernels(layout: str) -> None:
    """Max, average and adaptive pooling and pixel unshuffling: a made output has the geometry both kernels
    give; none is made where a kernel rejects the operands or could pick channels-last."""
    made_any = 0
    for func, options in _WINDOWS:
        x = _MAPS[layout]()
        expected = _kernel_geometry(func, (x, *options))
        made = made_output(func, (x.to("meta"), *options), {})
        if made is None:
            continue
        made_any += 1
        assert expected is not None and _geometry(made) == expected, (func, options)
    least = {"row-major": 12, "unbatched": 12, "one row": 5}  # (a single row fits few windows)
    if layout in least:
        assert made_any >= least[layout]
    elif layout in ("channels-last", "permuted"):
        assert made_any == 0  # layouts that can read as channels-last are the kernels' to decide


def test_the_channels_last_reading_is_torchs_own() -> None:
    """``suggests_channels_last`` against torch's ``are_strides_like_channels_last_or_false`` on every 4-d and
    5-d shape of sizes 0–2 (and 3), each with row-major, channels-last, reversed, broadcast (stride 0) and
    size-1-padded strides."""
    import itertools

    from torch._prims_common import are_strides_like_channels_last_or_false

    from costmodel.trace.shortcut_helpers import suggests_channels_last

    checked = 0
    for rank in (3, 4, 5):
        for shape in itertools.product((0, 1, 2, 3), repeat=rank):
            base = torch.empty(shape)
            layouts = [
                base.stride(),
                tuple(reversed(base.stride())),
                tuple(0 if n == 1 else st for n, st in zip(shape, base.stride())),
            ]
            if rank in (4, 5):
                fmt = torch.channels_last if rank == 4 else torch.channels_last_3d
                layouts.append(base.contiguous(memory_format=fmt).stride())
                layouts.append(
                    tuple(st * 7 if n == 1 else st for n, st in zip(shape, base.contiguous(memory_format=fmt).stride()))
                )
            for strides in layouts:
                expected = are_strides_like_channels_last_or_false(shape, strides)
                assert suggests_channels_last(shape, tuple(strides)) == expected, (shape, strides)
                checked += 1
    rng = random.Random(0)
    for _ in range(4000):  # arbitrary strides, small sizes
        shape = tuple(rng.choice((0, 1, 2, 3, 4)) for _ in range(rng.choice((4, 5))))
        strides = tuple(rng.choice((0, 1, 2, 3, 4, 6, 8, 12, 24)) for _ in shape)
        assert suggests_channels_last(shape, strides) == are_strides_like_channels_last_or_false(shape, strides), (shape, strides)
    assert checked > 5000


def _fake_geometry(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The geometry of ``func``'s outputs under FakeTensorMode (the reference every trace is held to), or
    None when it rejects the operands."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        fakes = tuple(mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args)
        try:
            return _geometry(func(*fakes, **kwargs))
        except Exception:  # noqa: BLE001  # its own error: nothing may be made
            return None


def _ones(*shape: int) -> torch.Tensor:
    return torch.ones(shape)


_x = torch.rand(2, 6, 5, 4)
_x_last = _x.contiguous(memory_format=torch.channels_last)
_c = _ones(6)
#: slices as decompositions and composites pass them: dims, None bounds, negative and out-of-range ones, steps
_SLICES = [
    (),
    (1,),
    (1, 1),
    (1, None, 3),
    (-1, -3),
    (2, 1, -1, 2),
    (3, -9, 100),
    (0, 5, 2),
    (2, 4, 1),
    (1, 0, 9223372036854775807, 3),
]
_OTHERS: list[tuple[Any, tuple[Any, ...], dict[str, Any], bool]] = [
    # (op, operands, keyword arguments, whether an output must be made)
    (_aten.native_batch_norm.default, (_x, None, None, None, None, True, 0.1, 1e-5), {}, True),
    (_aten.native_batch_norm.default, (_x, _c, _c, _c, _c, True, 0.1, 1e-5), {}, True),
    (_aten.native_batch_norm.default, (_x, _c, None, _c, _c, False, 0.0, 1e-3), {}, True),
    (_aten.native_batch_norm.default, (_x.flatten(2), None, None, None, None, True, 0.1, 1e-5), {}, True),
    (_aten.native_batch_norm.default, (_x.double(), _c.double(), _c.double(), None, None, True, 0.1, 1e-5), {}, True),
    (_aten.native_batch_norm.default, (_x, None, None, None, None, False, 0.1, 1e-5), {}, False),  # eval without statistics
    (_aten.native_batch_norm.default, (_x_last, None, None, None, None, True, 0.1, 1e-5), {}, True),
    (_aten.native_batch_norm.default, (_x_last, _c, _c, _c, _c, False, 0.1, 1e-5), {}, True),
    (_aten.native_batch_norm.default, (_x.transpose(1, 3), None, None, None, None, True, 0.1, 1e-5), {}, True),
    (_aten.native_batch_norm.default, (_x.half(), None, None, None, None, True, 0.1, 1e-5), {}, False),
    (_aten.native_batch_norm.default, (_x, _ones(5), None, None, None, True, 0.1, 1e-5), {}, False),
    *[
        (_aten.pixel_shuffle.default, (t, 2), {}, True)
        for t in (
            _ones(2, 8, 3, 5).contiguous(memory_format=torch.channels_last),
            _ones(2, 8, 5, 3).transpose(2, 3),
            _ones(2, 8, 3, 6)[:, :, :, ::2],
            _ones(1, 8, 3, 5).contiguous(memory_format=torch.channels_last),
            _ones(2, 4, 1, 1).contiguous(memory_format=torch.channels_last),
            _ones(2, 4, 3, 5),
            _ones(3, 2, 4, 3, 5).permute(0, 1, 2, 4, 3),
        )
    ],
    (_aten.pixel_shuffle.default, (_x, 2), {}, False),  # 6 channels are not a multiple of 4
    (_aten.native_group_norm.default, (_x_last, None, None, 2, 6, 20, 3, 1e-5), {}, True),
    (_aten.native_group_norm.default, (_x, _c, _c, 2, 6, 20, 2, 1e-5), {}, True),
    (_aten.native_group_norm.default, (_x.transpose(2, 3), None, None, 2, 6, 20, 6, 1e-5), {}, True),
    (_aten.native_group_norm.default, (_x, None, None, 2, 6, 20, 4, 1e-5), {}, False),  # 6 channels in 4 groups
    (
        _aten.native_group_norm.default,
        (_ones(2, 4, 3, 5, 6).contiguous(memory_format=torch.channels_last_3d), None, None, 2, 4, 90, 2, 1e-5),
        {},
        True,
    ),
    (
        _aten.native_group_norm.default,
        (_x.permute(0, 1, 3, 2).contiguous().transpose(2, 3), None, None, 2, 6, 20, 3, 1e-5),
        {},
        True,
    ),
    (_aten._prelu_kernel.default, (_x, _ones(1, 1, 1, 1)), {}, True),
    (_aten._prelu_kernel.default, (_x, _ones(1, 6, 1, 1)), {}, True),
    (_aten._prelu_kernel.default, (_x.flatten(2), _ones(1, 6, 1)), {}, True),
    (_aten._prelu_kernel.default, (_x, _ones(1, 5, 1, 1)), {}, False),
    (_aten._prelu_kernel.default, (_x_last, _ones(1, 6, 1, 1)), {}, False),
    (_aten.glu.default, (_x, 1), {}, True),
    (_aten.glu.default, (_x,), {}, True),
    (_aten.glu.default, (_x, -2), {}, False),  # an odd size
    (_aten.glu.default, (_x, 4), {}, False),
    (_aten.grid_sampler_2d.default, (_x, torch.zeros(2, 3, 7, 2), 0, 0, False), {}, True),
    (_aten.grid_sampler_2d.default, (_x, torch.zeros(2, 3, 7, 2), 1, 2, True), {}, True),
    (_aten.grid_sampler_2d.default, (_x_last, torch.zeros(2, 3, 7, 2), 2, 1, False), {}, True),
    (_aten.grid_sampler_2d.default, (_x, torch.zeros(1, 3, 7, 2), 0, 0, False), {}, False),
    (_aten.cumprod.default, (_x, 1), {}, True),
    (_aten.cumprod.default, (_x, -1), {}, True),
    (_aten.cumprod.default, (_x_last, 1), {}, True),
    (_aten.cumsum.default, (_x.transpose(1, 3), -1), {}, True),
    (_aten.cumsum.default, (_x.permute(2, 0, 3, 1), 1), {}, True),
    (_aten.cumsum.default, (_x_last, 0), {}, True),
    (_aten.cumsum.default, (_x.long(), 1), {}, False),  # an integer input: summed in int64
    (_aten.flip.default, (_x.transpose(1, 3), [1]), {}, True),
    (_aten.flip.default, (_x_last, [0, 2]), {}, True),
    (_aten.flip.default, (_x[:, :1].expand(2, 3, 5, 4), [3]), {}, True),
    (_aten.masked_fill.Scalar, (_x.transpose(2, 3), torch.ones(4, 5, dtype=torch.bool), -1.0), {}, True),
    (_aten.masked_fill.Scalar, (_x_last, torch.ones(2, 1, 5, 1, dtype=torch.bool), 0), {}, True),
    (_aten.masked_fill.Tensor, (_x.permute(2, 0, 3, 1), torch.ones(6, dtype=torch.bool), torch.tensor(2.0)), {}, True),
    (_aten.masked_fill.Scalar, (_x, torch.ones(3, 5, 4, dtype=torch.bool), 0.0), {}, False),  # the mask does not fit
    (_aten.prod.dim_int, (_x.transpose(1, 3), 1), {}, True),
    (_aten.prod.dim_int, (_x_last, -1, True), {}, True),
    (_aten.cumprod.default, (_x, 1), {"dtype": torch.float64}, False),
    (_aten.var_mean.correction, (_x, [1]), {"correction": 1}, True),
    (_aten.var_mean.correction, (_x, [1, 3]), {"correction": 0, "keepdim": True}, True),
    (_aten.std_mean.correction, (_x, None), {}, True),
    (_aten.std_mean.correction, (_x, [1, 1]), {}, False),
    (_aten.repeat.default, (_x, [1, 2, 1, 3]), {}, True),
    (_aten.repeat.default, (_c, [3, 2]), {}, True),
    (_aten.repeat.default, (_x_last, [2, 1, 1, 1]), {}, True),
    (_aten.repeat.default, (_x, [0, 1, 1, 1]), {}, True),
    (_aten.repeat.default, (_x, [2, 2]), {}, False),
    (_aten.repeat.default, (_x, [1, -1, 1, 1]), {}, False),
    (_aten.argmax.default, (_x, 1), {}, True),
    (_aten.argmax.default, (_x, -1, True), {}, True),
    (_aten.argmin.default, (_x,), {}, True),
    (_aten.argmin.default, (_x, None, True), {}, True),
    (_aten.argmax.default, (_x, 4), {}, False),
    (_aten.native_channel_shuffle.default, (_x, 2), {}, True),
    (_aten.native_channel_shuffle.default, (_x, 3), {}, True),
    (_aten.native_channel_shuffle.default, (_x, 4), {}, False),  # 6 channels in 4 groups
    (_aten.native_channel_shuffle.default, (_x_last, 2), {}, False),
    (_aten.channel_shuffle.default, (_x, 3), {}, True),
    (_aten.channel_shuffle.default, (_x.flatten(2), 2), {}, True),
    (_aten._cdist_forward.default, (torch.rand(2, 5, 3), torch.rand(2, 4, 3), 2.0, None), {}, True),
    (_aten._cdist_forward.default, (torch.rand(2, 1, 5, 3), torch.rand(3, 4, 3), 1.0, 0), {}, True),
    (_aten._cdist_forward.default, (torch.rand(5, 3), torch.rand(4, 2), 2.0, None), {}, False),
    (_aten._euclidean_dist.default, (torch.rand(2, 30, 3), torch.rand(2, 40, 3)), {}, True),
    (_aten._trilinear.default, (torch.rand(3, 8), torch.rand(4, 8, 6), torch.rand(3, 6), [1, 3], [0], [1, 2], [2, 3]), {}, True),
    (_aten._trilinear.default, (torch.rand(3, 8), torch.rand(4, 8, 6), torch.rand(3, 6), [1, 3], [0], [1, 2], [2]), {}, True),
    (_aten._trilinear.default, (torch.rand(3, 8), torch.rand(4, 8, 6), torch.rand(3, 5), [1, 3], [0], [1, 2], [2, 3]), {}, False),
    (_aten.col2im.default, (torch.rand(2, 12, 9), [6, 6], [2, 2], [1, 1], [0, 0], [2, 2]), {}, True),
    (_aten.col2im.default, (torch.rand(12, 16), [5, 5], [2, 2], [1, 1], [0, 0], [1, 1]), {}, True),
    (_aten.col2im.default, (torch.rand(2, 18, 12), [5, 6], [3, 2], [1, 2], [0, 0], [1, 1]), {}, True),
    (_aten.col2im.default, (torch.rand(2, 12, 16), [6, 6], [2, 2], [1, 1], [1, 1], [2, 2]), {}, True),  # padded
    (_aten.col2im.default, (torch.rand(36, 36), [6, 6], [3, 3], [1, 1], [1, 1], [1, 1]), {}, True),
    (_aten.col2im.default, (torch.rand(1, 12, 25), [5, 7], [2, 3], [2, 1], [1, 2], [1, 2]), {}, True),
    (_aten.col2im.default, (torch.rand(2, 12, 15), [6, 6], [2, 2], [1, 1], [1, 1], [2, 2]), {}, False),  # L wrong
    (_aten.col2im.default, (torch.rand(2, 12, 8), [6, 6], [2, 2], [1, 1], [0, 0], [2, 2]), {}, False),  # L wrong
    (_aten.log_sigmoid_forward.default, (_x,), {}, True),
    (_aten.log_sigmoid_forward.default, (_x_last,), {}, False),
    (_aten.max_unpool2d.default, (_x, torch.zeros(2, 6, 5, 4, dtype=torch.int64), [10, 8]), {}, True),
    (_aten.max_unpool2d.default, (_x[0], torch.zeros(6, 5, 4, dtype=torch.int64), [11, 9]), {}, True),
    (_aten.max_unpool2d.default, (_x_last, torch.zeros(2, 6, 5, 4, dtype=torch.int64), [10, 8]), {}, True),
    (_aten.max_unpool2d.default, (_x_last, _x_last.long(), [5, 4]), {}, True),
    (_aten.max_unpool2d.default, (_x, torch.zeros(2, 6, 5, 4, dtype=torch.int32), [10, 8]), {}, False),
    (_aten.max_unpool2d.default, (_x, torch.zeros(2, 6, 5, 3, dtype=torch.int64), [10, 8]), {}, False),
    (_aten._softmax.default, (_x_last, 1, False), {}, True),
    (_aten._softmax.default, (_x.transpose(1, 3), -1, False), {}, True),
    (_aten._log_softmax.default, (_x[:, :, 1:4].permute(2, 0, 3, 1), 0, False), {}, True),
    (_aten._softmax.default, (_x[:, :1].expand(2, 3, 5, 4), 1, False), {}, True),
    (_aten._softmax.default, (_x[:1].permute(1, 2, 0, 3), 2, False), {}, True),
    (_aten._softmax.default, (_x, 4, False), {}, False),
    (_aten._softmax.default, (_x.half(), 1, True), {}, False),
    *[(_aten.slice.Tensor, (base, *bounds), {}, True) for base in (_x, _x_last, _x.transpose(1, 3)) for bounds in _SLICES],
    (_aten.slice.Tensor, (_x, 1, 0, 3, 0), {}, False),  # a zero step: torch's error
    (_aten.slice.Tensor, (_x, 4), {}, False),
    (_aten.slice.Tensor, (torch.tensor(1.0),), {}, False),
    (_aten.sigmoid_.default, (_x.transpose(1, 3),), {}, True),  # in place: the operand, any layout
    (_aten.mul_.Tensor, (_x_last, _x[:1]), {}, True),
    (_aten.add_.Tensor, (_x[:1], _x), {}, False),  # the result would not fit the operand
    (_aten.scatter.value, (_x.transpose(1, 3), 1, torch.zeros(2, 1, 5, 6, dtype=torch.int64), 1.0), {}, True),
    (_aten.scatter.src, (_x_last, 0, torch.zeros(1, 6, 5, 4, dtype=torch.int64), _x), {}, True),
    (_aten.scatter.reduce, (_x, 2, torch.zeros(2, 6, 3, 4, dtype=torch.int64), _x), {"reduce": "multiply"}, True),
    (_aten.scatter_add.default, (_x, -1, torch.zeros(2, 6, 5, 2, dtype=torch.int64), _x), {}, True),
    (_aten.scatter.value, (_x, 1, torch.zeros(2, 1, 5, 6, dtype=torch.int64), 1.0), {}, False),  # index too wide
    (_aten.scatter.value, (_x, 1, torch.zeros(2, 1, 5, 4, dtype=torch.int32), 1.0), {}, False),  # an int32 index
    (_aten.scatter.src, (_x, 1, torch.zeros(2, 1, 5, 4, dtype=torch.int64), _x.double()), {}, False),
    (_aten.index_add.default, (_x, 1, torch.tensor([0, 2, 1]), torch.rand(2, 3, 5, 4)), {}, True),
    (_aten.index_add.default, (_x.transpose(1, 3), 2, torch.tensor([0, 4]), torch.rand(2, 4, 2, 6)), {"alpha": 2}, True),
    (_aten.index_add.default, (_x_last, -1, torch.arange(4), _x), {"alpha": 0.5}, True),
    (_aten.index_add_.default, (_x.transpose(1, 3), 0, torch.tensor([1]), torch.rand(1, 4, 5, 6)), {}, True),
    (_aten.index_add.default, (_x, 1, torch.tensor([0, 2], dtype=torch.int32), torch.rand(2, 2, 5, 4)), {}, False),
    (_aten.index_add.default, (_x, 1, torch.tensor([0, 2]), torch.rand(2, 2, 5, 4).double()), {}, False),
    (_aten.index_add.default, (_x, 1, torch.tensor([0, 2]), torch.rand(2, 3, 5, 4)), {}, False),  # 2 indices, 3 rows
    (_aten.index_add.default, (_x, 1, torch.tensor([[0, 2]]), torch.rand(2, 2, 5, 4)), {}, False),  # a 2-D index
    (_aten.fractional_max_pool2d.default, (_x, [2, 2], [3, 2], torch.rand(2, 6, 2)), {}, True),
    (_aten.fractional_max_pool2d.default, (_x_last[0], [1, 3], [5, 2], torch.rand(3, 6, 2)), {}, True),
    (_aten.fractional_max_pool2d.default, (_x, [3, 3], [4, 2], torch.rand(2, 6, 2)), {}, False),  # window past the input
    (_aten.fractional_max_pool2d.default, (_x, [2, 2], [3, 2], torch.rand(1, 6, 2)), {}, False),  # too few samples
    (_aten.fractional_max_pool2d.default, (_x, [2, 2], [3, 2], torch.rand(2, 6, 2).double()), {}, False),
    (_aten._upsample_bilinear2d_aa.default, (_x, [3, 2], False), {}, True),
    (_aten._upsample_bilinear2d_aa.default, (_x_last, [9, 7], True, 1.8, 1.75), {}, True),
    (_aten._upsample_bicubic2d_aa.default, (_x.transpose(2, 3), [2, 2], False), {}, True),
    (_aten._upsample_bicubic2d_aa.default, (_x[0], [2, 2], False), {}, False),  # 3-D
    (_aten.rrelu_with_noise.default, (_x, torch.empty_like(_x)), {}, True),
    (_aten.rrelu_with_noise.default, (_x_last, torch.empty_like(_x), 0.1, 0.3, True), {}, True),
    (_aten.rrelu_with_noise.default, (_x.transpose(1, 2)[:, :, :3], torch.empty(2, 5, 3, 4), 0.1, 0.2), {}, True),
    (_aten.rrelu_with_noise.default, (_x.permute(3, 1, 0, 2), torch.empty(4, 6, 2, 5)), {}, True),
    (_aten.rrelu_with_noise.default, (_x[:, :1].expand(2, 3, 5, 4), torch.empty(2, 3, 5, 4)), {}, True),
    (_aten.norm.Scalar, (_x,), {}, True),
    (_aten.norm.Scalar, (_x_last, 1), {}, True),
    (_aten.norm.ScalarOpt_dim, (_x, 2.0, [1]), {}, True),
    (_aten.norm.ScalarOpt_dim, (_x_last, None, [-1, 1], True), {}, True),
    (_aten.norm.ScalarOpt_dim, (_x, float("inf"), [0, 2, 3]), {}, True),
    (_aten.norm.ScalarOpt_dim, (_x, 2, [4]), {}, False),
    (_aten.norm.ScalarOpt_dim, (_x.to(torch.complex64), 2, [1]), {}, False),  # a real result of a complex input
]


@pytest.mark.parametrize("index", range(len(_OTHERS)))
def test_made_outputs_match_fake_tensor_mode(index: int) -> None:
    """Batch and instance norm's kernel, PReLU, GLU, grid sampling, cumulative products, variance and
    mean, repeats: where an output is made it has the geometry FakeTensorMode gives; where FakeTensorMode
    rejects the operands, or the layout is the kernel's to choose, none is made."""
    func, args, kwargs, expected_made = _OTHERS[index]
    meta_args = tuple(a.to("meta") if isinstance(a, torch.Tensor) else a for a in args)
    made = made_output(func, meta_args, kwargs)
    assert (made is not None) == expected_made
    if made is not None:
        assert _geometry(made) == _fake_geometry(func, args, kwargs)


def _view_cases() -> list[tuple[torch.Tensor, list[int]]]:
    """Views as einsum, attention and patch code make them: size-1 dimensions (where the meta kernel and
    FakeTensorMode's reference stride differently), permuted and offset inputs, -1, impossible views."""
    base = torch.rand(2, 1, 6, 4)
    permuted = torch.rand(4, 6, 1, 2).permute(3, 2, 1, 0)
    sliced = torch.rand(3, 8, 4)[1:, 2:6]
    one = torch.rand(1, 64, 8, 128, 1).permute(0, 1, 2, 3, 4)
    strided = torch.rand(64, 1, 1, 8, 128).permute(2, 0, 3, 4, 1)
    cases = [(base, s) for s in ([2, 24], [48], [2, 1, 1, 6, 4], [-1, 4], [2, 6, 4], [1, 2, 24, 1], [5, -1])]
    cases += [(permuted, s) for s in ([2, 24], [2, 1, 6, 4], [48], [2, 6, 2, 2], [-1])]
    cases += [(sliced, s) for s in ([8, 2], [2, 4, 4], [16], [2, 2, 2, 4])]
    cases += [(one, [1, 64, 8, 128]), (strided, [1, 64, 8, 128]), (strided, [64, 1024]), (torch.rand(7), [7, 1])]
    return cases


@pytest.mark.parametrize("func", [_aten.view.default, _aten._unsafe_view.default], ids=["view", "_unsafe_view"])
def test_made_views_match_fake_tensor_mode(func: Any) -> None:
    """A made view has FakeTensorMode's shape, strides and offset, aliases its input, and is not made where
    FakeTensorMode refuses the view."""
    made_any = 0
    for x, sizes in _view_cases():
        meta = x.to("meta").as_strided(x.shape, x.stride(), x.storage_offset())
        made = made_output(func, (meta, sizes), {})
        expected = _fake_geometry(func, (x, sizes), {})
        if made is None:
            assert expected is None, (tuple(x.shape), x.stride(), sizes)  # no view exists: torch raises
            continue
        made_any += 1
        assert expected is not None and _geometry(made) == expected, (tuple(x.shape), x.stride(), sizes)
        assert made.storage_offset() == meta.storage_offset() and made._base is not None
    assert made_any >= 12


def test_made_slices_keep_fake_tensor_modes_offsets() -> None:
    """A slice is a view: its storage offset (moved by start strides from the input's own) is held to
    FakeTensorMode too, for an input that starts inside its storage."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    base = torch.rand(3, 6, 5, 4)[1:].transpose(1, 2)  # offset 120, dense
    on_meta = torch.empty(360, device="meta").as_strided(base.shape, base.stride(), base.storage_offset())
    for bounds in _SLICES:
        made = made_output(_aten.slice.Tensor, (on_meta, *bounds), {})
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            fake = _aten.slice.Tensor(mode.from_tensor(base), *bounds)
        assert made is not None and on_meta.storage_offset() == base.storage_offset() == 120
        assert (made.shape, made.stride(), made.storage_offset()) == (fake.shape, fake.stride(), fake.storage_offset()), bounds


_E, _S, _K, _N = 4, 12, 8, 16
_OFFSETS = torch.tensor([3, 5, 9, 12], dtype=torch.int32)
#: _grouped_mm operands (a, b, offs), and whether a maker answers them (where not, the CPU kernel refuses)
_GROUPED = [
    ((torch.rand(_S, _K), torch.rand(_E, _K, _N), _OFFSETS), True),  # tokens against every expert
    ((torch.rand(_S, _K), torch.rand(_E, 6, _K).transpose(1, 2), _OFFSETS), True),  # 6 outputs: rows padded to 8
    ((torch.rand(_E, 5, _K), torch.rand(_E, _K, _N), None), True),  # batched
    ((torch.rand(_E, 5, _K), torch.rand(_K, _N * _E), _OFFSETS), True),  # 3-D × 2-D
    ((torch.rand(_N, _S + 4), torch.rand(_S + 4, _K), _OFFSETS), True),  # groups along the contraction
    ((torch.rand(_S, _K), torch.rand(_E, _K, 6), _OFFSETS), False),  # rows of 24 bytes: the kernel refuses
    ((torch.rand(_S, _K), torch.rand(_E, _K, _N), _OFFSETS.long()), False),  # int64 offsets
    ((torch.rand(_S, _K), torch.rand(_E, _K, _N).double(), _OFFSETS), False),
    ((torch.rand(_S, _K), torch.rand(_E, _K, _N), None), False),  # offsets needed
]


@pytest.mark.parametrize("index", range(len(_GROUPED)))
def test_made_grouped_products_match_the_cpu_kernel(index: int) -> None:
    """Mixture-of-Experts products: the meta kernel refuses float32 (the CUDA kernel's bf16), the CPU
    kernel computes them; the made output has the CPU kernel's shape, strides and dtype, and where none is
    made the CPU kernel itself refuses the operands (an unaligned layout) or they are outside the maker's
    forms."""
    (a, b, offs), expected_made = _GROUPED[index]
    meta = tuple(t.to("meta") if isinstance(t, torch.Tensor) else t for t in (a, b, offs))
    made = made_output(_aten._grouped_mm.default, meta[:2] if offs is None else meta, {})
    assert (made is not None) == expected_made
    if made is not None:
        assert _geometry(made) == _geometry(torch._grouped_mm(a, b, offs=offs))
    elif index == 5:
        with pytest.raises(RuntimeError, match="16 bytes"):
            torch._grouped_mm(a, b, offs=offs)
