"""Data movement, pooling and resampling: copies, concatenation, padding, indexing, windows.

Anything that materialises a new tensor (copy, cast, pad, roll, cat, repeat, gather, pixel shuffle)
costs FLOPs = 0 and MAC = in + out; a view that aliases its input costs nothing (see ``free``).
"""

from __future__ import annotations

import math
from typing import Any

from costmodel.rules.base import AtenCall, OpCost, rule
from costmodel.rules.tensor_meta import TensorMeta

COPIES = (
    "clone", "_to_copy", "cat", "stack", "constant_pad_nd", "reflection_pad1d", "reflection_pad2d",
    "reflection_pad3d", "replication_pad1d", "replication_pad2d", "replication_pad3d", "circular_pad1d",
    "circular_pad2d", "_pad_circular", "roll", "flip", "repeat", "repeat_interleave", "tile", "pixel_shuffle",
    "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "scatter", "scatter_add",
    "index_put", "_index_put_impl", "index_add",
    "index_copy", "masked_select", "tril", "triu", "expand_copy", "narrow_copy",
    "slice_copy", "select_copy", "permute_copy", "transpose_copy", "view_copy", "im2col", "col2im",
    "_unsafe_view", "diag_embed", "diagonal_scatter", "slice_scatter", "select_scatter", "as_strided_scatter",
    "nonzero", "unique", "_unique2", "unique_consecutive", "bucketize", "searchsorted", "one_hot",
    "contiguous", "reshape", "_reshape_alias", "resize_", "grid_sampler_2d_copy",
    "unfold_copy", "alias_copy", "_foreach_copy", "lift_fresh_copy", "detach_copy", "max_unpool2d", "max_unpool3d",
)  # fmt: skip

FACTORIES = (
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "new_full", "arange",
    "linspace", "logspace", "eye", "scalar_tensor", "tensor", "rand", "randn", "randint", "rand_like",
    "randn_like", "randint_like", "randperm", "normal", "uniform", "bernoulli", "multinomial", "_efficientzerotensor",
)  # fmt: skip


@rule(*COPIES, family="copy")
def copy(call: AtenCall) -> OpCost:
    """Materialising data movement: FLOPs = 0; MAC = in + out (a view that aliases its input: 0).

    Kind (for calibration): 'cat' for cat/stack (a fixed cost per input), 'strided_copy' when an input
    is not contiguous (a transpose made contiguous: the channel shuffle), else 'copy'."""
    if call.aliases:
        return OpCost(0, 0)
    if call.short in ("cat", "stack"):
        kind = "cat"
    elif any(not t.contiguous for t in call.inputs):
        kind = "strided_copy"
    else:
        kind = "copy"
    return OpCost(0, call.io_elements(), kind=kind)


def _index_tensors(call: AtenCall) -> list[TensorMeta]:
    """The index tensors of a gather: ``indices`` for embedding, ``index`` for index_select/gather/
    take_along_dim, each non-None entry of the index list for ``index``, the flat index for ``take``."""
    if call.short in ("embedding", "index_select", "gather", "take_along_dim", "take"):
        position = {"embedding": 1, "index_select": 2, "gather": 2, "take_along_dim": 1, "take": 1}[call.short]
        found = call.arg(position, "indices")
        return [found] if isinstance(found, TensorMeta) else []
    found = call.arg(1, "indices")
    return [t for t in (found or ()) if isinstance(t, TensorMeta)]


@rule("gather", "index_select", "embedding", "index", "_unsafe_index", "take", "take_along_dim", family="copy")
def gather_rows(call: AtenCall) -> OpCost:
    """A gather reads what it gathers: FLOPs = 0; MAC = the selected elements read (as many as the
    output holds) + the index tensors + the output written. The table it selects from is not read
    whole (an embedding of 128 tokens reads 128 rows, not the vocabulary)."""
    indices = sum(t.numel for t in _index_tensors(call))
    return OpCost(0, 2 * call.output.numel + indices, kind="copy")


@rule("_embedding_bag", "embedding_bag", family="copy")
def embedding_bag(call: AtenCall) -> OpCost:
    """A bag of embeddings (weight: V×D, indices: n): FLOPs = n·D (sum or mean of the rows: one add
    each); MAC = the n rows read (n·D) + the indices and offsets + the output written."""
    weight, indices = call.args[0], call.args[1]
    offsets = call.arg(2, "offsets")
    rows = indices.numel * weight.shape[-1]
    extra = offsets.numel if isinstance(offsets, TensorMeta) else 0
    return OpCost(rows, rows + indices.numel + extra + call.output.numel, kind="copy")


@rule("copy_", family="copy")
def copy_into(call: AtenCall) -> OpCost:
    """``dst.copy_(src)``: FLOPs = 0; MAC = src read + dst written (dst's old values are not read)."""
    src = call.args[1]
    return OpCost(0, src.numel + call.output.numel, kind="copy")


@rule(*FACTORIES, family="copy")
def factory(call: AtenCall) -> OpCost:
    """A new tensor filled with constants or random numbers: FLOPs = 0; MAC = the elements written."""
    return OpCost(0, sum(t.numel for t in call.outputs), kind="copy")


def per_dimension(value: Any, dims: int, default: int) -> list[int]:
    """An int-or-list argument (kernel, stride, padding) as one int per spatial dimension; ``default`` when absent."""
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return [default] * dims
    if isinstance(value, (list, tuple)):
        values = [int(v) for v in value]
        return values * dims if len(values) == 1 else values
    return [int(value)] * dims


def clipped_taps(
    kernel: list[int], stride: list[int], sizes: list[int], padding: list[int], dilation: list[int], outputs: list[int]
) -> int:
    """Window elements read over all output positions of one channel, each window clipped to the
    padded input: per dim, Σ over outputs o of #{t < k : o·s + t·d < in + 2·pad}; the dims multiply
    (windows are separable). A kernel wider than its input, or a ceil_mode window overhanging the
    end, reads only the taps inside."""
    taps = 1
    for k, s, size, pad, dil, n_out in zip(kernel, stride, sizes, padding, dilation, outputs):
        end = size + 2 * pad  # first position past the padded input
        if (n_out - 1) * s + (k - 1) * dil <= end - 1:  # no window overhangs: every output reads k taps
            taps *= n_out * k
            continue
        taps *= sum(max(0, min(k, (end - 1 - o * s) // dil + 1)) for o in range(n_out))
    return taps


@rule(
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "mkldnn_max_pool2d",
    "quantized_max_pool2d",
    family="pool",
)
def window_pool(call: AtenCall) -> OpCost:
    """k×k max or average pooling: FLOPs = the window elements every output reads (one compare or add
    each), each window clipped to the padded input; MAC = in + out (indices a max pool returns for
    backward are not counted)."""
    x, out = call.args[0], call.output
    dims = int(call.short.split("pool")[1][0])
    kernel = per_dimension(call.arg(1, "kernel_size"), dims, 1)
    stride = per_dimension(call.arg(2, "stride"), dims, 0)
    stride = [s or k for s, k in zip(stride, kernel)]  # an empty stride means stride = kernel
    padding = per_dimension(call.arg(3, "padding"), dims, 0)
    is_max = call.short.startswith(("max", "mkldnn_max", "quantized_max"))
    dilation = per_dimension(call.arg(4, "dilation"), dims, 1) if is_max else [1] * dims
    outputs = list(out.shape[-dims:])
    channels = math.prod(out.shape[:-dims])  # batch × channels: every output position's windows repeat per channel
    taps = clipped_taps(kernel, stride, list(x.shape[-dims:]), padding, dilation, outputs)
    return OpCost(channels * taps, call.io_elements(1), kind="max_pool" if is_max else "avg_pool")


@rule("fractional_max_pool2d", "fractional_max_pool3d", family="pool")
def fractional_max_pool(call: AtenCall) -> OpCost:
    """Fractional max pooling (``aten::fractional_max_pool2d/3d(x, kernel_size, output_size, samples)``): each
    output reads one whole k×k (k×k×k) window at pseudo-random offsets, always inside the input: FLOPs =
    output elements × window elements (one compare each, as max pooling); MAC = input + the random
    samples read + output (the indices it returns for backward are not counted)."""
    kernel = call.arg(1, "kernel_size")
    return OpCost(call.output.numel * math.prod(kernel), call.io_elements(1), kind="max_pool")


@rule(
    "_adaptive_avg_pool2d",
    "_adaptive_avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    family="pool",
)
def adaptive_pool(call: AtenCall) -> OpCost:
    """Adaptive pooling: FLOPs = 1 per input element (fvcore's count); MAC = in + out."""
    return OpCost(call.args[0].numel, call.io_elements(1), kind="adaptive_pool")


#: FLOPs per output element of each resampling mode: the taps it blends (fvcore: nearest 1, bilinear 4).
RESAMPLE_TAPS = {"nearest": 1, "linear": 2, "bilinear": 4, "bicubic": 16, "trilinear": 8}


@rule(
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d",
    "upsample_linear1d",
    "upsample_bilinear2d",
    "_upsample_bilinear2d_aa",
    "upsample_bicubic2d",
    "_upsample_bicubic2d_aa",
    "upsample_trilinear3d",
    "grid_sampler_2d",
    "grid_sampler",
    family="resample",
)
def resample(call: AtenCall) -> OpCost:
    """Interpolation: FLOPs = taps per output element (nearest 1, linear 2, bilinear 4, bicubic 16,
    trilinear 8; grid sampling bilinear, 4); MAC = in + out."""
    mode = next((m for m in ("bicubic", "trilinear", "bilinear", "linear", "nearest") if m in call.short), "bilinear")
    return OpCost(call.output.numel * RESAMPLE_TAPS[mode], call.io_elements(), kind="resample")
