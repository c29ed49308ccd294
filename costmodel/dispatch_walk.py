"""Fallback for models torch.fx cannot trace: a dispatch-level walk of one real forward pass.

The model runs once, for real, on a random input of the requested shape (eval mode, no_grad; flags
restored), under a ``TorchDispatchMode`` that records every aten op with its tensors. Each op is costed
by the same conventions and closed forms as the fx path (``formulas`` for convolutions and matmuls),
and named after the module that issued it (``layer1.0.conv1.convolution``). Rows are therefore aten
ops rather than fx nodes — ``F.linear`` shows up as ``t`` + ``addmm`` — and ops without a rule are
listed as uncounted. Unlike the fx path this runs the real compute, so it costs what a forward costs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from costmodel import formulas
from costmodel.errors import ShapeMismatch, UncountedOpsError
from costmodel.handlers.conv import conv_kind
from costmodel.report import LayerCost, Report, UncountedOp
from costmodel.trace import eval_mode_preserved, tensors_in

# (family, cost function of (args, kwargs, outputs, io_elements) → (flops, mac, bound, kind))
AtenRule = tuple[
    str, Callable[[tuple[Any, ...], dict[str, Any], list[torch.Tensor], int], tuple[int, int, float | None, str | None]]
]


def _io(_: tuple[Any, ...], __: dict[str, Any], ___: list[torch.Tensor], io: int) -> tuple[int, int, float | None, str | None]:
    return 0, io, None, None


def _per_output(
    args: tuple[Any, ...], _: dict[str, Any], outs: list[torch.Tensor], io: int
) -> tuple[int, int, float | None, str | None]:
    return outs[0].numel(), io, None, None


def _per_input(
    args: tuple[Any, ...], _: dict[str, Any], outs: list[torch.Tensor], io: int
) -> tuple[int, int, float | None, str | None]:
    return args[0].numel(), io, None, None


def _batch_norm(
    args: tuple[Any, ...], _: dict[str, Any], outs: list[torch.Tensor], io: int
) -> tuple[int, int, float | None, str | None]:
    affine = args[1] is not None
    return args[0].numel() * (2 if affine else 1), io, None, None


def _convolution(
    args: tuple[Any, ...], _: dict[str, Any], outs: list[torch.Tensor], io: int
) -> tuple[int, int, float | None, str | None]:
    x, weight, bias = args[0], args[1], args[2]
    transposed, groups = bool(args[6]), int(args[8])
    spatial = weight.dim() - 2
    n = x.shape[0] if x.dim() == spatial + 2 else 1
    if transposed:
        return n * prod(x.shape[-spatial - 1 :]) * weight.shape[1] * prod(weight.shape[2:]), io, None, None

    def fold(sizes: Sequence[int]) -> tuple[int, int]:
        return (sizes[0], 1) if len(sizes) == 1 else (prod(sizes[:-1]), sizes[-1])

    h, w = fold(list(x.shape[-spatial:]))
    ho, wo = fold(list(outs[0].shape[-spatial:]))
    kh, kw = fold(list(weight.shape[2:]))
    c1, c2 = x.shape[-spatial - 1], outs[0].shape[-spatial - 1]
    cost = formulas.conv_cost(n, h, w, ho, wo, c1, c2, kh, kw, groups, bias is not None)
    return cost.flops, io, cost.mac_lower_bound, conv_kind(c1, groups, kh * kw)


def _matmul(
    args: tuple[Any, ...], _: dict[str, Any], outs: list[torch.Tensor], io: int
) -> tuple[int, int, float | None, str | None]:
    a, b = (args[1], args[2]) if len(args) >= 3 and args[0].dim() <= 2 and args[1].dim() == 2 else (args[0], args[1])
    inner = a.shape[-1]
    return outs[0].numel() * inner, io, None, "matmul"


def _window_pool(
    args: tuple[Any, ...], _: dict[str, Any], outs: list[torch.Tensor], io: int
) -> tuple[int, int, float | None, str | None]:
    kernel = args[1]
    window = prod(kernel) if isinstance(kernel, (list, tuple)) else int(kernel) ** 2
    return outs[0].numel() * window, io, None, "window_pool"


def _rules() -> dict[Any, AtenRule]:
    aten = torch.ops.aten
    rules: dict[Any, AtenRule] = {aten.convolution.default: ("conv", _convolution)}
    for op in (aten.addmm.default, aten.mm.default, aten.bmm.default):
        rules[op] = ("linear", _matmul)
    for op in (aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default):
        rules[op] = ("norm", _batch_norm)
    for name in (
        "relu",
        "relu_",
        "hardtanh",
        "hardtanh_",
        "sigmoid",
        "sigmoid_",
        "tanh",
        "tanh_",
        "hardswish",
        "hardswish_",
        "hardsigmoid",
        "hardsigmoid_",
        "silu",
        "silu_",
        "gelu",
        "leaky_relu",
        "leaky_relu_",
        "elu",
        "elu_",
        "clamp",
        "clamp_",
        "mish",
    ):
        packet = getattr(aten, name, None)
        if packet is not None:
            for overload in packet.overloads():
                rules[getattr(packet, overload)] = ("activation", _per_output)
    for name in ("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "abs", "neg", "gt", "ge", "lt", "le", "eq", "ne"):
        packet = getattr(aten, name)
        for overload in packet.overloads():
            rules[getattr(packet, overload)] = ("elementwise", _per_output)
    for op in (aten.cat.default, aten.stack.default, aten.clone.default, aten._to_copy.default, aten.copy_.default):
        rules[op] = ("elementwise" if op in (aten.cat.default, aten.stack.default) else "views", _io)
    for op in (aten.max_pool2d_with_indices.default, aten.max_pool2d.default, aten.avg_pool2d.default):
        rules[op] = ("pool", _window_pool)
    for op in (
        aten.mean.dim,
        aten.mean.default,
        aten.sum.default,
        aten.sum.dim_IntList,
        aten._adaptive_avg_pool2d.default,
        aten.adaptive_avg_pool2d.default,
    ):
        rules[op] = ("pool", _per_input)
    view_names = (
        "view",
        "_unsafe_view",
        "reshape",
        "t",
        "transpose",
        "permute",
        "split",
        "split_with_sizes",
        "chunk",
        "unsqueeze",
        "squeeze",
        "slice",
        "select",
        "expand",
        "alias",
        "detach",
        "flatten",
        "unbind",
        "empty",
        "zeros",
        "ones",
        "empty_like",
        "zeros_like",
        "ones_like",
        "_local_scalar_dense",
    )
    for name in view_names:
        packet = getattr(aten, name, None)
        if packet is not None:
            for overload in packet.overloads():
                rules[getattr(packet, overload)] = ("views", _io)
    return rules


_RULES: dict[Any, AtenRule] | None = None


class _Recorder(TorchDispatchMode):
    """Records (func, args, kwargs, outputs, owning module) for every aten op of one forward."""

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack = stack
        self.calls: list[tuple[Any, tuple[Any, ...], dict[str, Any], Any, str | None]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.calls.append((func, args, kwargs, out, self.stack[-1] if self.stack else None))
        return out


def dispatch_walk(
    model: nn.Module,
    input_shape: Sequence[int],
    dtype: torch.dtype = torch.float32,
    *,
    name: str = "the model",
    strict: bool = False,
    mac_unit: str = "elements",
) -> Report:
    """Cost one real forward of ``model`` op by op at the aten level (see the module docstring).

    The same conventions as ``analyze``: FLOPs are multiply-adds, MAC counts tensor elements read and
    written (0 for views that alias their input), params are the parameters an op reads, counted once.
    """
    global _RULES
    if _RULES is None:
        _RULES = _rules()
    stack: list[str] = []
    names = {m: n for n, m in model.named_modules()}

    def enter(module: nn.Module, _: Any) -> None:
        stack.append(names[module])

    def leave(module: nn.Module, _: Any, __: Any) -> None:
        stack.pop()

    hooks = []
    for module in model.modules():
        hooks.append(module.register_forward_pre_hook(enter))
        hooks.append(module.register_forward_hook(leave))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.randn(tuple(input_shape), dtype=dtype, device=device)
    recorder = _Recorder(stack)
    try:
        with eval_mode_preserved(model), torch.no_grad(), recorder:
            model(x)
    except Exception as exc:
        where = f" in module '{stack[-1]}'" if stack and stack[-1] else ""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeMismatch(f"input shape {list(input_shape)} fails{where}: {detail}") from exc
    finally:
        for hook in hooks:
            hook.remove()
    params = {p.data_ptr(): p for p in model.parameters()}
    seen: set[int] = set()
    counts: dict[str, int] = {}
    layers: list[LayerCost] = []
    uncounted: list[UncountedOp] = []
    scale = torch.empty((), dtype=dtype).element_size() if mac_unit == "bytes" else 1
    for func, args, kwargs, out, owner in recorder.calls:
        op = func.overloadpacket.__name__
        base = f"{owner}.{op}" if owner else op
        counts[base] = counts.get(base, 0) + 1
        row_name = base if counts[base] == 1 else f"{base}_{counts[base] - 1}"
        rule = _RULES.get(func)
        if rule is None:
            uncounted.append(UncountedOp(row_name, op))
            continue
        family, cost = rule
        inputs = tensors_in((args, kwargs))
        outputs = tensors_in(out)
        if family == "pool":
            outputs = outputs[:1]  # max_pool2d_with_indices: the indices are a kernel artefact (in + out, as fx)
        # a view moves no data; an in-place op (relu_) still reads and writes every element
        aliases = (
            family == "views" and bool(outputs) and all(any(torch._C._is_alias_of(o, i) for i in inputs) for o in outputs)  # type: ignore[attr-defined]
        )
        io = 0 if aliases else sum(t.numel() for t in inputs) + sum(t.numel() for t in outputs)
        flops, mac, bound, kind = cost(args, kwargs, outputs, io)
        row_params = 0
        # a parameter is owned by the first computing op that reads it (directly or through a view such
        # as the transpose F.linear takes), never by the view itself
        for t in inputs if family != "views" else ():
            p = params.get(t.data_ptr()) if t.numel() else None
            if p is not None and p.data_ptr() not in seen and p.numel() == t.numel():
                seen.add(p.data_ptr())
                row_params += p.numel()
        mac *= scale
        bound = None if bound is None else bound * scale
        layers.append(
            LayerCost(
                row_name,
                op,
                family,
                owner or None,
                [list(t.shape) for t in inputs],
                list(outputs[0].shape) if outputs else [],
                flops,
                row_params,
                mac,
                bound,
                None if bound is None or mac == 0 else bound / mac,
                kind,
            )
        )
    if strict and uncounted:
        listed = ", ".join(f"{u.name} ({u.op})" for u in uncounted)
        raise UncountedOpsError(f"{len(uncounted)} op(s) cannot be costed (--strict): {listed}")
    model_params = sum(p.numel() for p in model.parameters())
    notes = [
        "fallback: torch.fx could not trace this model, so it ran once for real under a dispatch-level "
        "walk; rows are aten ops named by their module"
    ]
    unread = model_params - sum(r.params for r in layers)
    if unread:
        notes.append(f"{unread} parameters are not read by any counted op (unused, or read by an uncounted op)")
    return Report(name, list(input_shape), str(dtype).removeprefix("torch."), layers, uncounted, model_params, mac_unit, notes)
