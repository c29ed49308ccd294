"""Outputs of layer kernels on meta tensors — windows (pooling, im2col/col2im, convolution), norms and
gates, shuffles, distances, the bilinear form — made from their operands' geometry without running the
Python kernel that makes them under FakeTensorMode (torch's Python meta kernels and decompositions
import sympy or ``torch._dynamo`` on first use). ``meta_outputs`` dispatches to these makers.

Each maker takes the operands as the dispatcher hands them over (positional, trailing defaults left out)
and returns what the kernel returns — new row-major tensors of the shapes torch's formulas give — or
None wherever the kernel has to run: a form, a layout or operands it does not cover, or operands the
kernel would reject with its own error. Tests hold each to the CPU kernels, the meta kernels and
FakeTensorMode.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

import torch

from costmodel.rules.contractions import expanded_operand
from costmodel.trace.elementwise_shortcuts import broadcast_shape, is_dense, like_strides
from costmodel.trace.layer_shortcuts import pool_size, row_major
from costmodel.trace.shortcut_helpers import suggests_channels_last

__all__ = ["LAYER_OUTPUTS", "empty_like_meta", "in_suggested_format", "int_pairs", "new_meta", "no_elements"]

_META = torch.device("meta")


def new_meta(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A new row-major meta tensor of ``shape`` and ``dtype`` (what the kernels allocate for an output)."""
    return torch.empty(shape, dtype=dtype, device=_META)


def empty_like_meta(x: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(x)`` on meta without torch's Python reference: ``x``'s strides where it is dense,
    else dense in their order (``like_strides``)."""
    shape = tuple(x.shape)
    return torch.empty_strided(shape, like_strides(shape, tuple(x.stride())), dtype=x.dtype, device=_META)


def in_suggested_format(shape: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
    """A new meta tensor of ``shape`` and ``x``'s dtype in the memory format torch's ``suggest_memory_format``
    reads from ``x`` (``suggests_channels_last``): channels-last (3-d for 5-d) or row-major."""
    layout = torch.contiguous_format
    if suggests_channels_last(tuple(x.shape), tuple(x.stride())):
        layout = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    return torch.empty(shape, dtype=x.dtype, device=_META, memory_format=layout)


def int_pairs(value: Any, rank: int) -> tuple[int, ...] | None:
    """Per-dimension ints from an int list of length 1 or ``rank``; None otherwise."""
    if not isinstance(value, (list, tuple)) or not all(type(v) is int for v in value):
        return None
    if len(value) == 1:
        return tuple(value) * rank
    return tuple(value) if len(value) == rank else None


def no_elements(x: Any) -> bool:
    """Whether ``x`` is not a tensor with elements (the kernels' edge cases stay theirs)."""
    return not isinstance(x, torch.Tensor) or x.numel() == 0


def _im2col(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::im2col`` (``F.unfold``) of an (N, C, H, W) or (C, H, W) input: (N, C·kh·kw, L), L the
    number of kernel positions, ∏ ⌊(size + 2·pad − dil·(k − 1) − 1) / stride⌋ + 1."""
    if len(args) != 5:
        return None
    x, kernel, dilation, padding, stride = args
    if x.dim() not in (3, 4) or x.numel() == 0:
        return None
    kernel, dilation, padding, stride = (int_pairs(v, 2) for v in (kernel, dilation, padding, stride))
    if kernel is None or dilation is None or padding is None or stride is None:
        return None
    if min(*kernel, *dilation, *stride) <= 0 or min(padding) < 0:
        return None
    positions = _kernel_positions(tuple(x.shape[-2:]), kernel, dilation, padding, stride)
    if positions is None:
        return None
    columns = x.shape[-3] * kernel[0] * kernel[1]
    return new_meta((*x.shape[:-3], columns, positions), x.dtype)


def _kernel_positions(
    sizes: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...], padding: tuple[int, ...], stride: tuple[int, ...]
) -> int | None:
    """How many places a kernel fits in ``sizes`` (``im2col``'s L): ∏ ⌊(size + 2·pad − dil·(k − 1) − 1) / stride⌋
    + 1 (``pool_size`` without ceil mode); None where it fits nowhere along a dim."""
    counts = [pool_size(n, k, p, s, d, False) for n, k, p, s, d in zip(sizes, kernel, padding, stride, dilation)]
    return None if min(counts) <= 0 else prod(counts)


def _convolution(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::convolution`` of a contiguous batched input by a contiguous weight (plain or transposed):
    a new contiguous tensor of torch's output sizes — (in + 2·pad − dil·(k − 1) − 1) / stride + 1, or
    for a transposed one (in − 1)·stride − 2·pad + dil·(k − 1) + output_pad + 1."""
    if len(args) != 9:
        return None
    x, weight, bias, stride, padding, dilation, transposed, output_padding, groups = args
    rank = x.dim() - 2
    if rank < 1 or weight.dim() != x.dim() or x.dtype != weight.dtype or type(groups) is not int or groups <= 0:
        return None
    if not (row_major(x) and row_major(weight)) or x.numel() == 0:
        return None
    if bias is not None and (bias.dim() != 1 or bias.dtype != x.dtype):
        return None
    stride, padding, dilation, output_padding = (int_pairs(v, rank) for v in (stride, padding, dilation, output_padding))
    if stride is None or padding is None or dilation is None or output_padding is None or type(transposed) is not bool:
        return None
    if min(*stride, *dilation) <= 0 or min(*padding, *output_padding) < 0:
        return None
    if transposed:
        if (
            x.shape[1] != weight.shape[0]
            or weight.shape[0] % groups
            or any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation))
        ):
            return None
        channels = weight.shape[1] * groups
        sizes = [
            (n - 1) * s - 2 * p + d * (k - 1) + o + 1
            for n, k, s, p, d, o in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, output_padding)
        ]
    else:
        if x.shape[1] != weight.shape[1] * groups or weight.shape[0] % groups or any(output_padding):
            return None
        channels = weight.shape[0]
        sizes = [
            pool_size(n, k, p, s, d, False) for n, k, s, p, d in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation)
        ]
    if bias is not None and bias.shape[0] != channels or min(sizes) <= 0:
        return None
    return new_meta((x.shape[0], channels, *sizes), x.dtype)


def _pixel_shuffle(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::pixel_shuffle(x, r)`` of (…, C·r², H, W): a (…, C, H·r, W·r) tensor, channels-last where a
    4-D ``x`` reads so (``suggests_channels_last``), else row-major (any other layout included)."""
    if len(args) != 2 or type(args[1]) is not int or args[1] <= 0 or no_elements(args[0]):
        return None
    x, r = args
    if x.dim() < 3 or x.shape[-3] % (r * r):
        return None
    shape = (*x.shape[:-3], x.shape[-3] // (r * r), x.shape[-2] * r, x.shape[-1] * r)
    return in_suggested_format(shape, x) if x.dim() == 4 else new_meta(shape, x.dtype)


def _unambiguous_rows(x: Any, spatial: int) -> bool:
    """Whether a non-empty floating (N, C, *spatial) or (C, *spatial) ``x`` is row-major and does not read
    as channels-last to the pooling kernels (``suggests_channels_last``: C = 1 can), which then keep that
    layout."""
    if no_elements(x) or not x.is_floating_point() or x.dim() not in (spatial + 1, spatial + 2) or not row_major(x):
        return False
    return not suggests_channels_last(tuple(x.shape), tuple(x.stride()))


def _window_sizes(
    x: Any, spatial: int, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: Any
) -> list[int] | None:
    """Output sizes of a pooling window over ``x``'s last ``spatial`` dims (``pool_size``), or None where
    the kernel must judge (a size not positive, padding over half the kernel, a form it rejects)."""
    kernel, padding, dilation = int_pairs(kernel, spatial), int_pairs(padding, spatial), int_pairs(dilation, spatial)
    stride = kernel if isinstance(stride, (list, tuple)) and not stride else int_pairs(stride, spatial)
    if kernel is None or stride is None or padding is None or dilation is None or type(ceil_mode) is not bool:
        return None
    if min(*kernel, *stride, *dilation) <= 0 or min(padding) < 0 or any(2 * p > k for p, k in zip(padding, kernel)):
        return None
    sizes = [pool_size(n, k, p, s, d, ceil_mode) for n, k, p, s, d in zip(x.shape[-spatial:], kernel, padding, stride, dilation)]
    return sizes if min(sizes) > 0 else None


def _completed(args: tuple[Any, ...], defaults: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pooling op's operands (input and kernel, then what the dispatcher handed over) with the trailing
    defaults it left out filled in."""
    return (*args, *defaults[len(args) - 2 :])


def _max_pool2d(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::max_pool2d_with_indices(x, kernel, stride=[], padding=0, dilation=1, ceil_mode=False)`` (max
    pooling, 1-d pooling on an unsqueezed input too): values and int64 indices of the pooled shape."""
    if not 2 <= len(args) <= 6 or not _unambiguous_rows(args[0], 2):
        return None
    x, kernel, stride, padding, dilation, ceil_mode = _completed(args, ((), [0], [1], False))
    sizes = _window_sizes(x, 2, kernel, stride, padding, dilation, ceil_mode)
    if sizes is None:
        return None
    shape = (*x.shape[:-2], *sizes)
    return new_meta(shape, x.dtype), new_meta(shape, torch.int64)


def _avg_pool(spatial: int) -> Callable[[tuple[Any, ...]], torch.Tensor | None]:
    """``aten::avg_pool2d``/``avg_pool3d(x, kernel, stride=[], padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None)``: the pooled tensor."""

    def made(args: tuple[Any, ...]) -> torch.Tensor | None:
        if not 2 <= len(args) <= 7 or not _unambiguous_rows(args[0], spatial):
            return None
        x, kernel, stride, padding, ceil_mode, include_pad, divisor = _completed(args, ((), [0], False, True, None))
        if type(include_pad) is not bool or divisor is not None and (type(divisor) is not int or divisor == 0):
            return None
        sizes = _window_sizes(x, spatial, kernel, stride, padding, [1], ceil_mode)
        return None if sizes is None else new_meta((*x.shape[:-spatial], *sizes), x.dtype)

    return made


def _adaptive_pool(with_indices: bool) -> Callable[[tuple[Any, ...]], Any]:
    """``aten::adaptive_max_pool2d(x, output_size)`` (values and int64 indices) and
    ``aten::_adaptive_avg_pool2d(x, output_size)``: (…, out_h, out_w)."""

    def made(args: tuple[Any, ...]) -> Any:
        if len(args) != 2 or not _unambiguous_rows(args[0], 2):
            return None
        size = int_pairs(args[1], 2)
        if size is None or min(size) <= 0:
            return None
        shape = (*args[0].shape[:-2], *size)
        out = new_meta(shape, args[0].dtype)
        return (out, new_meta(shape, torch.int64)) if with_indices else out

    return made


def _pixel_unshuffle(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::pixel_unshuffle(x, r)`` of (…, C, H·r, W·r): a row-major (…, C·r², H, W) tensor."""
    if len(args) != 2 or type(args[1]) is not int or args[1] <= 0 or no_elements(args[0]):
        return None
    x, r = args
    if x.dim() < 3 or x.shape[-2] % r or x.shape[-1] % r or not row_major(x):
        return None
    return new_meta((*x.shape[:-3], x.shape[-3] * r * r, x.shape[-2] // r, x.shape[-1] // r), x.dtype)


def _batch_norm(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``aten::native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)`` of a
    dense float32/float64 (N, C, …) ``x`` of any dim order (instance norm runs it on (1, N·C, …)): the
    normalised tensor of ``x``'s strides and the saved mean and 1/std, C each in training and empty
    otherwise (the decomposition FakeTensorMode runs makes them so on every device)."""
    if len(args) != 8 or no_elements(args[0]):
        return None
    x, weight, bias, mean, var, training, momentum, eps = args
    if x.dim() < 2 or x.dtype not in (torch.float32, torch.float64) or type(training) is not bool:
        return None
    if not is_dense(tuple(x.shape), tuple(x.stride())):
        return None
    state = [t for t in (weight, bias, mean, var) if t is not None]
    if any(not isinstance(t, torch.Tensor) or tuple(t.shape) != (x.shape[1],) or t.dtype != x.dtype for t in state):
        return None
    if (
        not isinstance(momentum, (int, float))
        or not isinstance(eps, (int, float))
        or not training
        and (mean is None or var is None)
    ):
        return None
    saved = (x.shape[1],) if training else (0,)
    return empty_like_meta(x), new_meta(saved, x.dtype), new_meta(saved, x.dtype)


def _group_norm(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``aten::native_group_norm(x, weight, bias, N, C, HxW, group, eps)`` of a dense floating (N, C, …)
    ``x``: the normalised tensor in the memory format ``x`` suggests (channels-last where its strides read
    so, else row-major) and the mean and 1/std, (N, group) each, row-major."""
    if len(args) != 8 or no_elements(args[0]) or not all(type(v) is int for v in args[3:7]):
        return None
    x, weight, bias, n, c, hxw, group, _ = args
    if x.dim() < 2 or not x.is_floating_point():
        return None
    if (
        (n, c, hxw) != (x.shape[0], x.shape[1], prod(x.shape[2:]))
        or group < 1
        or c % group
        or not is_dense(tuple(x.shape), tuple(x.stride()))
    ):
        return None
    if any(t is not None and (not isinstance(t, torch.Tensor) or tuple(t.shape) != (c,)) for t in (weight, bias)):
        return None
    return in_suggested_format(tuple(x.shape), x), new_meta((n, group), x.dtype), new_meta((n, group), x.dtype)


def _prelu(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_prelu_kernel(x, weight)``, the weight broadcast over a row-major floating ``x`` (F.prelu views
    it as (1, C, 1, …)): a new tensor like ``x``."""
    if len(args) != 2 or no_elements(args[0]) or not isinstance(args[1], torch.Tensor):
        return None
    x, weight = args
    if not x.is_floating_point() or weight.dtype != x.dtype or not row_major(x) or weight.dim() > x.dim():
        return None
    return new_meta(tuple(x.shape), x.dtype) if broadcast_shape(tuple(x.shape), tuple(weight.shape)) == tuple(x.shape) else None


def _glu(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::glu(x, dim=-1)`` of a row-major floating ``x``, even at ``dim``: a new tensor with that dim halved."""
    if not 1 <= len(args) <= 2 or no_elements(args[0]):
        return None
    x = args[0]
    dim = args[1] if len(args) > 1 else -1
    if x.dim() == 0 or type(dim) is not int or not -x.dim() <= dim < x.dim() or not x.is_floating_point() or not row_major(x):
        return None
    dim %= x.dim()
    if x.shape[dim] % 2:
        return None
    return new_meta((*x.shape[:dim], x.shape[dim] // 2, *x.shape[dim + 1 :]), x.dtype)


def _grid_sampler(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::grid_sampler_2d(x, grid, interpolation, padding, align_corners)`` of a floating (N, C, H, W)
    ``x`` at an (N, Hg, Wg, 2) grid: a new row-major (N, C, Hg, Wg) tensor."""
    if len(args) != 5 or no_elements(args[0]) or no_elements(args[1]):
        return None
    x, grid, interpolation, padding, align = args
    if x.dim() != 4 or grid.dim() != 4 or grid.shape[0] != x.shape[0] or grid.shape[3] != 2 or grid.dtype != x.dtype:
        return None
    if not x.is_floating_point() or interpolation not in (0, 1, 2) or padding not in (0, 1, 2) or type(align) is not bool:
        return None
    return new_meta((x.shape[0], x.shape[1], grid.shape[1], grid.shape[2]), x.dtype)


def _channel_shuffle(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::channel_shuffle``/``aten::native_channel_shuffle(x, groups)`` of a row-major (N, C, …) ``x``,
    1 < groups < C dividing C: a new row-major tensor like ``x`` (the channels regrouped by a copy)."""
    if len(args) != 2 or type(args[1]) is not int or no_elements(args[0]):
        return None
    x, groups = args
    if x.dim() < 3 or not row_major(x) or not 1 < groups < x.shape[1] or x.shape[1] % groups:
        return None
    return new_meta(tuple(x.shape), x.dtype)


def _distances(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_cdist_forward(x1, x2, p, compute_mode)`` and ``aten::_euclidean_dist(x1, x2)`` of floating
    (…, P, M) and (…, R, M) points of one dtype: a new row-major (…, P, R) tensor, the batch dims broadcast."""
    if len(args) not in (2, 4) or no_elements(args[0]) or no_elements(args[1]):
        return None
    x1, x2 = args[0], args[1]
    if x1.dim() < 2 or x2.dim() < 2 or x1.shape[-1] != x2.shape[-1] or x1.dtype != x2.dtype or not x1.is_floating_point():
        return None
    if len(args) == 4 and (not isinstance(args[2], (int, float)) or args[2] < 0 or args[3] not in (None, 0, 1, 2)):
        return None
    batch = broadcast_shape(tuple(x1.shape[:-2]), tuple(x2.shape[:-2]))
    return None if batch is None else new_meta((*batch, x1.shape[-2], x2.shape[-2]), x1.dtype)


def _trilinear(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim=1)`` of floating operands
    of one dtype: each with size-1 dims inserted at its ``expand`` positions, broadcast together, the
    ``sumdim`` dims summed away — a new row-major tensor of what remains."""
    if len(args) not in (7, 8) or not all(isinstance(t, torch.Tensor) for t in args[:3]):
        return None
    operands, expands, sumdim = args[:3], args[3:6], args[6]
    if any(no_elements(t) or t.dtype != operands[0].dtype or not t.is_floating_point() for t in operands):
        return None
    rank = operands[0].dim() + len(expands[0])
    space: tuple[int, ...] | None = ()
    for operand, expand in zip(operands, expands):
        if not isinstance(expand, (list, tuple)) or operand.dim() + len(expand) != rank or len(set(expand)) != len(expand):
            return None
        if not all(type(d) is int and 0 <= d < rank for d in expand):
            return None
        space = None if space is None else broadcast_shape(space, tuple(expanded_operand(operand.shape, expand)))
    if space is None or not isinstance(sumdim, (list, tuple)) or not all(type(d) is int and 0 <= d < rank for d in sumdim):
        return None
    return new_meta(tuple(n for i, n in enumerate(space) if i not in set(sumdim)), operands[0].dtype)


def _col2im(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::col2im`` (``F.fold``) of (N, C·kh·kw, L) or (C·kh·kw, L) blocks: a new row-major (N, C, H, W)
    tensor, L being the number of kernel positions in the padded H×W (``_im2col``'s count). Padded too:
    FakeTensorMode answers by the meta kernel, which allocates row-major (torch's decomposition, which
    the meta run would otherwise take, crops a padded buffer into a strided view instead)."""
    if len(args) != 6 or no_elements(args[0]) or args[0].dim() not in (2, 3):
        return None
    x, size, kernel, dilation, padding, stride = args
    size, kernel, dilation, padding, stride = (int_pairs(v, 2) for v in (size, kernel, dilation, padding, stride))
    if size is None or kernel is None or dilation is None or padding is None or stride is None or min(padding) < 0:
        return None
    if min(*size, *kernel, *dilation, *stride) <= 0 or x.shape[-2] % (kernel[0] * kernel[1]):
        return None
    if _kernel_positions(size, kernel, dilation, padding, stride) != x.shape[-1]:
        return None
    return new_meta((*x.shape[:-2], x.shape[-2] // (kernel[0] * kernel[1]), *size), x.dtype)


def _antialiased(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::_upsample_{bilinear,bicubic,lanczos}2d_aa(x, output_size, align_corners, scales…)``
    (``F.interpolate(..., antialias=True)``) of a non-empty (N, C, H, W) ``x``: a new (N, C, oh, ow) tensor
    in the memory format ``x`` suggests, as its meta kernel makes it."""
    if not 3 <= len(args) <= 5 or no_elements(args[0]) or args[0].dim() != 4 or type(args[2]) is not bool:
        return None
    x, size = args[0], int_pairs(args[1], 2)
    if size is None or min(size) <= 0:
        return None
    return in_suggested_format((x.shape[0], x.shape[1], *size), x)


def _log_sigmoid(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::log_sigmoid_forward(x)`` of a row-major floating ``x`` (off CUDA): the output and the buffer
    of exp(−|x|) the decomposition keeps, both new tensors like ``x``."""
    if len(args) != 1 or no_elements(args[0]) or not args[0].is_floating_point() or not row_major(args[0]):
        return None
    return new_meta(tuple(args[0].shape), args[0].dtype), new_meta(tuple(args[0].shape), args[0].dtype)


def _max_unpool2d(args: tuple[Any, ...]) -> torch.Tensor | None:
    """``aten::max_unpool2d(x, indices, output_size)`` of floating (N, C, h, w) or (C, h, w) values and their
    int64 indices of the same shape, any layout: a new row-major (…, H, W) map (zeros, the values scattered)."""
    if len(args) != 3 or no_elements(args[0]) or not isinstance(args[1], torch.Tensor):
        return None
    x, indices, size = args
    pair = int_pairs(size, 2) if isinstance(size, (list, tuple)) and len(size) == 2 else None
    if pair is None or min(pair) <= 0 or x.dim() not in (3, 4) or not x.is_floating_point():
        return None
    if indices.dtype != torch.int64 or tuple(indices.shape) != tuple(x.shape):
        return None  # (any layout: the decomposition scatters into a new row-major map)
    return new_meta((*x.shape[:-2], *pair), x.dtype)


def _fractional_max_pool2d(args: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``aten::fractional_max_pool2d(x, kernel, output_size, samples)`` of an (N, C, H, W) or (C, H, W) input
    with non-empty C, H, W: values and int64 indices, new row-major (…, out_h, out_w), once its meta
    kernel's checks hold (samples of ``x``'s dtype, shaped (≥ N, C, 2); each window fits the input)."""
    if len(args) != 4:
        return None
    x, kernel, size, samples = args
    pairs = [int_pairs(v, 2) if isinstance(v, (list, tuple)) and len(v) == 2 else None for v in (kernel, size)]
    if pairs[0] is None or pairs[1] is None or x.dim() not in (3, 4) or any(s == 0 for s in x.shape[-3:]):
        return None
    if not isinstance(samples, torch.Tensor) or samples.dtype != x.dtype or samples.dim() != 3:
        return None
    batch = x.shape[0] if x.dim() == 4 else 1
    if samples.shape[0] < batch or samples.shape[1] != x.shape[-3] or samples.shape[2] != 2:
        return None
    (kh, kw), (oh, ow) = pairs[0], pairs[1]
    if oh + kh - 1 > x.shape[-2] or ow + kw - 1 > x.shape[-1]:
        return None
    shape = (*x.shape[:-2], oh, ow)
    return new_meta(shape, x.dtype), new_meta(shape, torch.int64)


#: aten op → (the overloads covered, the maker of their output from positional operands)
LAYER_OUTPUTS: dict[str, tuple[tuple[str, ...], Callable[[tuple[Any, ...]], Any]]] = {
    "aten::im2col": (("default",), _im2col),
    "aten::col2im": (("default",), _col2im),
    "aten::convolution": (("default",), _convolution),
    "aten::pixel_shuffle": (("default",), _pixel_shuffle),
    "aten::_upsample_bilinear2d_aa": (("default",), _antialiased),
    "aten::_upsample_bicubic2d_aa": (("default",), _antialiased),
    "aten::pixel_unshuffle": (("default",), _pixel_unshuffle),
    "aten::channel_shuffle": (("default",), _channel_shuffle),
    "aten::native_channel_shuffle": (("default",), _channel_shuffle),
    "aten::max_pool2d_with_indices": (("default",), _max_pool2d),
    "aten::avg_pool2d": (("default",), _avg_pool(2)),
    "aten::avg_pool3d": (("default",), _avg_pool(3)),
    "aten::adaptive_max_pool2d": (("default",), _adaptive_pool(True)),
    "aten::_adaptive_avg_pool2d": (("default",), _adaptive_pool(False)),
    "aten::native_batch_norm": (("default",), _batch_norm),
    "aten::native_group_norm": (("default",), _group_norm),
    "aten::_prelu_kernel": (("default",), _prelu),
    "aten::glu": (("default",), _glu),
    "aten::log_sigmoid_forward": (("default",), _log_sigmoid),
    "aten::grid_sampler_2d": (("default",), _grid_sampler),
    "aten::_cdist_forward": (("default",), _distances),
    "aten::_euclidean_dist": (("default",), _distances),
    "aten::_trilinear": (("default",), _trilinear),
    "aten::max_unpool2d": (("default",), _max_unpool2d),
    "aten::fractional_max_pool2d": (("default",), _fractional_max_pool2d),
}
