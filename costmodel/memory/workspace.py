"""Scratch memory a kernel holds while it runs, beyond the tensors it returns.

Modelled: 2-D convolution on CPU, whose kernel torch picks by its own rule (``torch._C._select_conv_backend``,
asked with the call's fake tensors, so the choice is torch's, not ours):

- ``Slow2d`` (im2col; small inputs): a columns buffer of N·C_in·k_h·k_w·H'·W' elements, unless the
  kernel is 1×1 with stride 1 and no padding (the input is used as it is).
- ``Mkldnn`` (oneDNN): channels are blocked by 16. An input with C_in ≥ 16, or a grouped one, is
  reordered into N·⌈C_in/16⌉·16·H·W elements; the weight into ⌈C_out/16⌉·16·⌈(C_in/g)/16⌉·16·k_h·k_w
  (depthwise: ⌈C/16⌉·16·k_h·k_w; a plain input keeps C_out·C_in·k_h·k_w); the result is written to a
  blocked N·⌈C_out/16⌉·16·H'·W' buffer and then copied to the output. The kernel's high mark above
  the live tensors and its output is max(input + weight + blocked output − output, blocked output).

Also modelled: CPU kernels that work on contiguous memory (layer and group norm, interpolation) copy a
non-contiguous input first (a channels-last or permuted tensor: its bytes), and interpolation writing a
non-contiguous output computes it contiguous and copies it over (its bytes).

Each figure was read off the allocator's record (``torch.profiler`` with ``profile_memory``) on this
build, op by op. Anything else (cuDNN workspaces, BLAS packing, other backends) is not modelled: 0.
"""

from __future__ import annotations

from typing import Any

import torch

BLOCK = 16


def _pad(c: int) -> int:
    return -(-c // BLOCK) * BLOCK


#: CPU kernels that make their input contiguous (and, for interpolation, write through a contiguous buffer).
CONTIGUOUS_KERNELS = frozenset({"aten::native_layer_norm", "aten::native_group_norm"})
CONTIGUOUS_IO_KERNELS = frozenset(
    {"aten::upsample_bilinear2d", "aten::upsample_nearest2d", "aten::upsample_bicubic2d", "aten::_upsample_nearest_exact2d"}
)


def workspace_bytes(op: str, args: tuple[Any, ...], outputs: tuple[Any, ...] = ()) -> int:
    """Bytes a kernel holds during ``op`` beyond its outputs (see the module docstring); 0 where none is
    modelled."""
    if op in CONTIGUOUS_KERNELS or op in CONTIGUOUS_IO_KERNELS:
        return _contiguous_copies(op, args, outputs)
    if op != "aten::convolution" or len(args) < 9:
        return 0
    x, weight = args[0], args[1]
    if not isinstance(x, torch.Tensor) or not isinstance(weight, torch.Tensor) or x.device.type != "cpu" or x.dim() != 4:
        return 0
    stride, padding, dilation, transposed, output_padding, groups = args[3:9]
    if transposed:
        return 0
    try:
        backend = torch._C._select_conv_backend(
            x, weight, args[2], stride, padding, dilation, transposed, output_padding, groups, None
        )
    except (RuntimeError, TypeError):
        return 0
    name = getattr(backend, "name", str(backend))
    n, c_in, h, w = (int(s) for s in x.shape)
    c_out, c_per_group, kh, kw = (int(s) for s in weight.shape)
    h_out = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    w_out = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    size = x.element_size()
    out = n * c_out * h_out * w_out * size
    if name.endswith("Slow2d"):
        if kh == kw == 1 and tuple(stride) == (1, 1) and tuple(padding) == (0, 0):
            return 0
        return n * c_in * kh * kw * h_out * w_out * size
    if name.endswith("Mkldnn"):
        blocked = c_in >= BLOCK or groups > 1
        if groups > 1 and groups == c_in and c_per_group == 1:
            weight_bytes = _pad(c_out) * kh * kw * size
        elif blocked:
            weight_bytes = groups * _pad(c_out // groups) * _pad(c_per_group) * kh * kw * size
        else:
            weight_bytes = c_out * c_per_group * kh * kw * size
        input_bytes = n * _pad(c_in) * h * w * size if blocked else 0
        blocked_out = n * _pad(c_out) * h_out * w_out * size
        return max(input_bytes + weight_bytes + blocked_out - out, blocked_out)
    return 0


def _contiguous_copies(op: str, args: tuple[Any, ...], outputs: tuple[Any, ...]) -> int:
    """The copy a contiguous-only CPU kernel makes of a non-contiguous input (and for interpolation, of a
    non-contiguous output)."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or x.device.type != "cpu":
        return 0
    total = 0 if x.is_contiguous() else x.numel() * x.element_size()
    if op in CONTIGUOUS_IO_KERNELS:
        total += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, torch.Tensor) and not t.is_contiguous())
    return total
