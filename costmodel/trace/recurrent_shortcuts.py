"""Closed-form rules for torch.nn's recurrent layers on CPU: ``nn.RNN``, ``nn.GRU``, ``nn.LSTM`` and their
cells, recorded op for op as ATen's CPU implementation runs them (``aten/src/ATen/native/RNN.cpp``), so that
a recurrent model need not run under FakeTensorMode (whose first use imports torch._dynamo).

The layer's Python forward makes the zero state (``aten::zeros``), unsqueezes unbatched input and squeezes
its outputs. ``_VF.rnn_tanh/rnn_relu/gru`` then run the native stack: the input transposed when batch-first,
the state unbound per layer and direction, and per layer and direction the input projection over the whole
sequence (``aten::linear``), unbound per step, one cell per step (the hidden projection and the gate
arithmetic, in place where ATen works in place), the step outputs stacked and, when bidirectional, the two
directions concatenated; then the final states stacked and the output transposed back in place. An LSTM in
float32 on a build with oneDNN enabled takes ``aten::mkldnn_rnn_layer`` per layer and direction instead
(zero biases made when it has none); with projections it takes the native stack, whose cell projects
``h`` after each step. The cells run one step without the precomputed projection.

A rule states only what it can be sure of: CPU tensors of concrete sizes, float32 or float64, no packed
sequences, weights of the shapes the layer's settings give, and no dropout between layers in training.
Anything else returns None and runs under FakeTensorMode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from costmodel.rules.base import AtenCall
from costmodel.rules.tensor_meta import TensorMeta
from costmodel.trace.fake_tensors import LazyFakeMode, contiguous_strides
from costmodel.trace.layer_shortcuts import aten_linear
from costmodel.trace.pending import PendingTensor
from costmodel.trace.shortcut_helpers import InnerTensor, Result, is_traced_tensor, pending_like, view_like

__all__ = ["RECURRENT", "recurrent_call"]

_LAYERS = (nn.RNN, nn.GRU, nn.LSTM)
_CELLS = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)
#: the recurrent layers and cells these rules state
RECURRENT = (*_LAYERS, *_CELLS)
_FLOATS = (torch.float32, torch.float64)


class _Unstated(Exception):
    """A part of the layer no rule states: the whole layer runs under FakeTensorMode."""


class _Recording:
    """The calls one layer runs, in order, with the tensors it makes (all of the layer's dtype)."""

    def __init__(self, x: Any, mode: LazyFakeMode) -> None:
        self.calls: list[AtenCall] = []
        self.dtype: torch.dtype = x.dtype
        self.device: torch.device = x.device
        self.like = x
        self.mode = mode

    def new(self, shape: tuple[int, ...]) -> InnerTensor:
        """A new row-major tensor."""
        return InnerTensor(shape, contiguous_strides(shape), self.dtype)

    def add(
        self,
        op: str,
        args: tuple[Any, ...],
        inputs: tuple[Any, ...],
        outputs: tuple[Any, ...],
        aliases: bool = False,
        **kwargs: Any,
    ) -> None:
        """Record one call; ``inputs`` and ``outputs`` are InnerTensor or TensorMeta, inputs distinct tensors."""
        metas = tuple(t.meta if type(t) is InnerTensor else t for t in inputs)
        outs = tuple(t.meta if type(t) is InnerTensor else t for t in outputs)
        self.calls.append(AtenCall(op, args, kwargs, metas, outs, aliases))

    def zeros(self, shape: tuple[int, ...], **options: Any) -> InnerTensor:
        """``torch.zeros(*shape, dtype=, device=)`` from Python (options: as aten receives them)."""
        out = self.new(shape)
        self.add("aten::zeros", (list(shape),), (), (out,), **options)
        return out

    def view(
        self, op: str, x: InnerTensor, args: tuple[Any, ...], shape: tuple[int, ...], stride: tuple[int, ...]
    ) -> InnerTensor:
        """A view op (``transpose``, ``select``, ``squeeze``, ``unsqueeze``) of ``x``: its output geometry."""
        out = InnerTensor(shape, stride, self.dtype)
        self.add(op, (x.meta, *args), (x,), (out,), aliases=True)
        return out

    def unbind(self, x: InnerTensor) -> list[InnerTensor]:
        """``x.unbind(0)``: one view per index of the first dim."""
        parts = [InnerTensor(x.shape[1:], x.stride[1:], self.dtype) for _ in range(x.shape[0])]
        self.add("aten::unbind", (x.meta,), (x,), tuple(parts), aliases=True)
        return parts

    def stack(self, parts: list[InnerTensor]) -> InnerTensor:
        """``at::stack(parts, 0)``: a new row-major tensor."""
        out = self.new((len(parts), *parts[0].shape))
        self.add("aten::stack", ([p.meta for p in parts],), tuple(parts), (out,))
        return out

    def cat(self, parts: list[InnerTensor], dim: int) -> InnerTensor:
        """``at::cat(parts, dim)`` of same-shaped row-major tensors along the last dim."""
        last = sum(p.shape[-1] for p in parts)
        out = self.new((*parts[0].shape[:-1], last))
        self.add("aten::cat", ([p.meta for p in parts], dim), tuple(parts), (out,))
        return out

    def linear(self, x: InnerTensor, weight: Any, bias: Any) -> InnerTensor:
        """``at::linear`` as the C++ code calls it (``layer_shortcuts.aten_linear``, untagged): over the
        (T, B, I) sequence, or on one step's (B, I) rows; ``_Unstated`` where that rule does not apply."""
        stated = aten_linear(view_like(self.like, x.shape, self.mode, x.stride), weight, bias, self.mode)
        if stated is None:
            raise _Unstated
        out, calls = stated
        self.calls.extend(calls)
        return InnerTensor.of(out)

    def chunks(self, x: InnerTensor, n: int) -> list[InnerTensor]:
        """``x.unsafe_chunk(n, 1)`` of a (B, n·H) tensor: ``aten::unsafe_split(x, H, 1)``, n views."""
        size = x.shape[1] // n
        parts = [InnerTensor((x.shape[0], size), x.stride, self.dtype) for _ in range(n)]
        self.add("aten::unsafe_split", (x.meta, size, 1), (x,), tuple(parts), aliases=True)
        return parts

    def in_place(self, op: str, x: InnerTensor, *others: InnerTensor) -> InnerTensor:
        """``x.op_(*others)``: ``x`` itself, written."""
        self.add(op, (x.meta, *(o.meta for o in others)), (x, *others), (x,), aliases=True)
        return x

    def pointwise(self, op: str, *xs: InnerTensor) -> InnerTensor:
        """An out-of-place element-wise op of same-shaped operands: a new row-major tensor."""
        out = self.new(xs[0].shape)
        self.add(op, tuple(x.meta for x in xs), xs, (out,))
        return out


def _unsqueezed(x: InnerTensor, dim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sizes and strides of ``x.unsqueeze(dim)``: the new dim's stride spans the dims after it."""
    step = x.shape[dim] * x.stride[dim] if dim < len(x.shape) else 1
    return (*x.shape[:dim], 1, *x.shape[dim:]), (*x.stride[:dim], step, *x.stride[dim:])


def _swapped(x: InnerTensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sizes and strides of ``x.transpose(0, 1)``."""
    return (x.shape[1], x.shape[0], *x.shape[2:]), (x.stride[1], x.stride[0], *x.stride[2:])


def _dropped(x: InnerTensor, dim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sizes and strides of ``x.squeeze(dim)`` of a size-1 ``dim`` (or ``x.select(dim, i)``)."""
    return x.shape[:dim] + x.shape[dim + 1 :], x.stride[:dim] + x.stride[dim + 1 :]


class _Cell:
    """One direction of one layer: its weights (``w_hr`` for an LSTM's projection) and its step."""

    def __init__(self, kind: type, weights: list[Any], bias: bool, nonlinearity: str) -> None:
        self.kind = kind
        self.w_ih, self.w_hh = weights[0], weights[1]
        self.b_ih: Any = weights[2] if bias else None
        self.b_hh: Any = weights[3] if bias else None
        rest = weights[4:] if bias else weights[2:]
        self.w_hr = rest[0] if rest else None
        self.activation = "aten::tanh" if nonlinearity == "tanh" else "aten::relu"

    def step(self, r: _Recording, x: InnerTensor, state: tuple[InnerTensor, ...], projected: bool) -> tuple[InnerTensor, ...]:
        """One step of the cell (``projected``: ``x`` is this step's slice of the input projection)."""
        if self.kind is nn.GRU:
            return (self._gru(r, x, state[0], projected),)
        if self.kind is nn.LSTM:
            return self._lstm(r, x, state, projected)
        hidden = r.linear(state[0], self.w_hh, self.b_hh)
        r.in_place("aten::add_", hidden, x if projected else r.linear(x, self.w_ih, self.b_ih))
        return (r.pointwise(self.activation, hidden),)

    def _gru(self, r: _Recording, x: InnerTensor, h: InnerTensor, projected: bool) -> InnerTensor:
        """r = σ(W_hr h + x_r), z = σ(W_hz h + x_z), n = tanh(x_n + r ⊙ W_hn h), h' = (h − n) ⊙ z + n."""
        gi = r.chunks(x if projected else r.linear(x, self.w_ih, self.b_ih), 3)
        gh = r.chunks(r.linear(h, self.w_hh, self.b_hh), 3)
        reset = r.in_place("aten::sigmoid_", r.in_place("aten::add_", gh[0], gi[0]))
        update = r.in_place("aten::sigmoid_", r.in_place("aten::add_", gh[1], gi[1]))
        new = r.in_place("aten::tanh_", r.pointwise("aten::add", gi[2], r.in_place("aten::mul_", gh[2], reset)))
        return r.in_place("aten::add_", r.in_place("aten::mul_", r.pointwise("aten::sub", h, new), update), new)

    def _lstm(self, r: _Recording, x: InnerTensor, state: tuple[InnerTensor, ...], projected: bool) -> tuple[InnerTensor, ...]:
        """gates = W_hh h + (x or W_ih x); c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g); h' = σ(o) ⊙ tanh(c'), projected
        by W_hr where the layer has one."""
        h, c = state
        gates = r.linear(h, self.w_hh, self.b_hh)
        r.in_place("aten::add_", gates, x if projected else r.linear(x, self.w_ih, self.b_ih))
        i, f, g, o = r.chunks(gates, 4)
        i, f = r.in_place("aten::sigmoid_", i), r.in_place("aten::sigmoid_", f)
        g, o = r.in_place("aten::tanh_", g), r.in_place("aten::sigmoid_", o)
        kept = r.pointwise("aten::mul", f, c)
        cy = r.in_place("aten::add_", kept, r.pointwise("aten::mul", i, g))
        hy = r.pointwise("aten::mul", o, r.pointwise("aten::tanh", cy))
        if self.w_hr is not None:
            hy = r.linear(hy, self.w_hr, None)
        return hy, cy

    def run(
        self, r: _Recording, x: InnerTensor, state: tuple[InnerTensor, ...], backwards: bool
    ) -> tuple[InnerTensor, tuple[InnerTensor, ...]]:
        """The CPU full layer: the input projection over the sequence, unbound, one step per slice (in
        reverse for the backward direction), the step outputs stacked in time order; (output, final state)."""
        steps = r.unbind(r.linear(x, self.w_ih, self.b_ih))
        outputs = []
        done: dict[tuple[TensorMeta, ...], tuple[list[AtenCall], tuple[InnerTensor, ...]]] = {}
        for step in reversed(steps) if backwards else steps:
            key = (step.meta, *(s.meta for s in state))
            if key in done:  # a step like one before: the same calls (shared objects: costed once)
                calls, state = done[key]
                r.calls.extend(calls)
            else:
                start = len(r.calls)
                state = self.step(r, step, state, True)
                done[key] = (r.calls[start:], state)
            outputs.append(state[0])
        if backwards:
            outputs.reverse()
        return r.stack(outputs), state


def _flat_weights(module: Any, x_features: int) -> list[list[Any]] | None:
    """Per layer and direction, the layer's weights in ATen's order (w_ih, w_hh[, b_ih, b_hh][, w_hr]),
    each checked against the shape the settings give; None where one differs or is not a tensor."""
    gates = {nn.LSTM: 4, nn.GRU: 3}.get(_recurrent_class(module), 1)
    hidden, proj = module.hidden_size, getattr(module, "proj_size", 0)
    real = proj or hidden
    directions = 2 if module.bidirectional else 1
    names = list(module._flat_weights_names)
    per = len(names) // (module.num_layers * directions) if module.num_layers * directions else 0
    expected_per = 2 + 2 * bool(module.bias) + bool(proj)
    if per != expected_per or per * module.num_layers * directions != len(names):
        return None
    out = []
    for index in range(module.num_layers * directions):
        layer = index // directions
        width = x_features if layer == 0 else real * directions
        shapes: list[tuple[int, ...]] = [(gates * hidden, width), (gates * hidden, real)]
        shapes += [(gates * hidden,), (gates * hidden,)] if module.bias else []
        shapes += [(proj, hidden)] if proj else []
        weights = [getattr(module, name, None) for name in names[index * per : (index + 1) * per]]
        if not all(isinstance(w, torch.Tensor) and tuple(w.shape) == s for w, s in zip(weights, shapes)):
            return None
        out.append(weights)
    return out


def _recurrent_class(module: Any) -> type:
    """The recurrent class ``module`` is (or subclasses), or its own type."""
    return next((cls for cls in RECURRENT if isinstance(module, cls)), type(module))


def _plain(t: Any, dtype: torch.dtype, rank: int) -> bool:
    """A traced CPU tensor of ``dtype`` and ``rank`` with concrete, non-zero sizes."""
    return (
        is_traced_tensor(t)
        and t.dtype == dtype
        and t.device.type == "cpu"
        and t.dim() == rank
        and all(type(s) is int and s > 0 for s in t.shape)
        and t.layout is torch.strided
    )


def _pending(r: _Recording, g: InnerTensor) -> PendingTensor:
    return pending_like(r.like, g.shape, r.mode, g.stride)


def _states(module: Any, hx: Any, batched: bool, dtype: torch.dtype, shapes: list[tuple[int, ...]]) -> list[InnerTensor] | None:
    """The given initial states (one tensor, or (h, c) for an LSTM) as geometries of ``shapes`` once
    unsqueezed where the input is unbatched; None where any differs."""
    given = list(hx) if isinstance(hx, tuple) and _recurrent_class(module) is nn.LSTM else [hx]
    if len(given) != len(shapes):
        return None
    rank = len(shapes[0]) - (0 if batched else 1)
    if not all(_plain(t, dtype, rank) for t in given):
        return None
    return [InnerTensor.of(t) for t in given]


def recurrent_call(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], mode: LazyFakeMode) -> Result | None:
    """(outputs, calls) of an RNN/GRU/LSTM layer or cell called on a traced CPU tensor (and optionally its
    initial state), as ATen's CPU code runs it; None where the rule cannot be sure (then it runs faked)."""
    names = ("input", "hx")
    if len(args) > 2 or set(kwargs) - set(names[len(args) :]):
        return None
    given = dict(zip(names, args), **kwargs)
    x: Any = given.get("input")
    hx = given.get("hx")
    m: Any = module
    if not is_traced_tensor(x) or x.dtype not in _FLOATS or m.training and getattr(m, "dropout", 0) and m.num_layers > 1:
        return None
    if any(p.dtype != x.dtype for p in module.parameters()):
        return None
    try:
        return _cell(m, x, hx, mode) if isinstance(module, _CELLS) else _layer(m, x, hx, mode)
    except _Unstated:
        return None


def _layer(m: Any, x: Any, hx: Any, mode: LazyFakeMode) -> Result | None:
    """nn.RNN / nn.GRU / nn.LSTM (see the module docstring)."""
    kind = _recurrent_class(m)
    batched = x.dim() == 3
    if not _plain(x, x.dtype, 3 if batched else 2) or x.shape[-1] != m.input_size:
        return None
    weights = _flat_weights(m, m.input_size)
    if weights is None:
        return None
    r = _Recording(x, mode)
    data = InnerTensor.of(x)
    batch_dim = 0 if m.batch_first else 1
    if not batched:
        data = r.view("aten::unsqueeze", data, (batch_dim,), *_unsqueezed(data, batch_dim))
    directions = 2 if m.bidirectional else 1
    proj = getattr(m, "proj_size", 0)
    batch = data.shape[batch_dim]
    shapes: list[tuple[int, ...]] = [(m.num_layers * directions, batch, proj or m.hidden_size)]
    shapes += [(m.num_layers * directions, batch, m.hidden_size)] if kind is nn.LSTM else []
    if hx is None:
        options: dict[str, Any] = {"dtype": x.dtype, "device": x.device, "pin_memory": False}
        states = [r.zeros(shape, **options) for shape in shapes]
    else:
        found = _states(m, hx, batched, x.dtype, shapes)
        if found is None:
            return None
        states = found if batched else [r.view("aten::unsqueeze", s, (1,), *_unsqueezed(s, 1)) for s in found]
        if [s.shape for s in states] != shapes:
            return None
    cells = [_Cell(kind, w, bool(m.bias), getattr(m, "nonlinearity", "tanh")) for w in weights]
    native = kind is not nn.LSTM or proj or not _takes_onednn(x)
    output, finals = _native(r, m, cells, data, states) if native else _onednn(r, m, weights, data, states)
    if not batched:
        output = r.view("aten::squeeze", output, (batch_dim,), *_dropped(output, batch_dim))
        finals = [r.view("aten::squeeze", f, (1,), *_dropped(f, 1)) for f in finals]
    pending = [_pending(r, g) for g in (output, *finals)]
    result = (pending[0], pending[1]) if kind is not nn.LSTM else (pending[0], (pending[1], pending[2]))
    return result, r.calls


def _takes_onednn(x: Any) -> bool:
    """Whether ATen's ``lstm`` takes oneDNN for this float CPU input: float32, oneDNN built and enabled."""
    return x.dtype == torch.float32 and torch.backends.mkldnn.is_available() and bool(torch.backends.mkldnn.enabled)


def _native(
    r: _Recording, m: Any, cells: list[_Cell], data: InnerTensor, states: list[InnerTensor]
) -> tuple[InnerTensor, list[InnerTensor]]:
    """``_VF.rnn_*/gru/lstm`` on the native stack: (output, final states stacked)."""
    if m.batch_first:
        data = r.view("aten::transpose", data, (0, 1), *_swapped(data))
    per_state = [r.unbind(s) for s in states]
    directions = 2 if m.bidirectional else 1
    finals: list[tuple[InnerTensor, ...]] = []
    layer_input = data
    for layer in range(m.num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            ran = cells[index].run(r, layer_input, tuple(s[index] for s in per_state), direction == 1)
            outputs.append(ran[0])
            finals.append(ran[1])
        layer_input = outputs[0] if directions == 1 else r.cat(outputs, 2)
    # an LSTM returns make_tuple(output, stack(hy), stack(cy)): C++ evaluates those arguments right to left
    stacked = [r.stack([f[k] for f in finals]) for k in reversed(range(len(states)))][::-1]
    output = layer_input
    if m.batch_first:
        shape, stride = _swapped(output)
        if _recurrent_class(m) is nn.LSTM:
            output = r.view("aten::transpose", output, (0, 1), shape, stride)
        else:  # transposed in place: the call shows the tensor as it is after
            output = InnerTensor(shape, stride, r.dtype)
            r.add("aten::transpose_", (output.meta, 0, 1), (output,), (output,), aliases=True)
    return output, stacked


def _onednn(
    r: _Recording, m: Any, weights: list[list[Any]], data: InnerTensor, states: list[InnerTensor]
) -> tuple[InnerTensor, list[InnerTensor]]:
    """``_VF.lstm`` on oneDNN: the input made time-major and contiguous, one ``mkldnn_rnn_layer`` per layer
    and direction (zero biases of the weights' shapes where the layer has none), directions concatenated
    on the last dim, the final states stacked, the output transposed back when batch-first."""
    if m.batch_first:
        data = r.view("aten::transpose", data, (0, 1), *_swapped(data))
    if not data.meta.contiguous:
        copy = r.new(data.shape)
        r.add("aten::clone", (data.meta,), (data,), (copy,), memory_format=torch.contiguous_format)
        data = copy
    directions = 2 if m.bidirectional else 1
    hy: list[InnerTensor] = []
    cy: list[InnerTensor] = []
    workspace = TensorMeta((0,), torch.uint8)
    layer_input = data
    for layer in range(m.num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            h, c = (r.view("aten::select", s, (0, index), *_dropped(s, 0)) for s in states)
            w = weights[index]
            if m.bias:
                w_ih, w_hh, b_ih, b_hh = (TensorMeta.of(t) for t in w)
                tensors: tuple[Any, ...] = (w_ih, w_hh, b_ih, b_hh)
            else:
                w_ih, w_hh = TensorMeta.of(w[0]), TensorMeta.of(w[1])
                options: dict[str, Any] = {"dtype": r.dtype, "layout": torch.strided, "device": r.device}
                zero_hh = r.new(tuple(w[1].shape))
                r.add("aten::zeros", (list(w[1].shape),), (), (zero_hh,), **options)
                zero_ih = r.new(tuple(w[0].shape))
                r.add("aten::zeros", (list(w[0].shape),), (), (zero_ih,), **options)
                tensors = (w_ih, w_hh, zero_ih, zero_hh)
            steps, batch = layer_input.shape[0], layer_input.shape[1]
            out = r.new((steps, batch, m.hidden_size))
            h_out, c_out = r.new(h.shape), r.new(c.shape)
            settings: tuple[Any, ...] = (direction == 1, [], 2, m.hidden_size, m.num_layers, bool(m.bias), bool(m.bidirectional))
            call_args = (layer_input.meta, *(t.meta if type(t) is InnerTensor else t for t in tensors), h.meta, c.meta, *settings)
            call_args += (bool(m.batch_first), bool(m.training))
            r.add("aten::mkldnn_rnn_layer", call_args, (layer_input, *tensors, h, c), (out, h_out, c_out, workspace))
            outputs.append(out)
            hy.append(h_out)
            cy.append(c_out)
        layer_input = outputs[0] if directions == 1 else r.cat(outputs, -1)
    finals = [r.stack(hy), r.stack(cy)]
    output = layer_input
    if m.batch_first:
        output = r.view("aten::transpose", output, (0, 1), *_swapped(output))
    return output, finals


def _cell(m: Any, x: Any, hx: Any, mode: LazyFakeMode) -> Result | None:
    """nn.RNNCell / nn.GRUCell / nn.LSTMCell: one step on (B, I) or unbatched (I,) input."""
    cells: dict[type, type] = {nn.LSTMCell: nn.LSTM, nn.GRUCell: nn.GRU}
    kind = cells.get(_recurrent_class(m), nn.RNN)
    batched = x.dim() == 2
    if not _plain(x, x.dtype, 2 if batched else 1) or x.shape[-1] != m.input_size:
        return None
    gates = {nn.LSTM: 4, nn.GRU: 3}.get(kind, 1) * m.hidden_size
    shapes = [(gates, m.input_size), (gates, m.hidden_size)] + ([(gates,), (gates,)] if m.bias else [])
    weights = [m.weight_ih, m.weight_hh, *((m.bias_ih, m.bias_hh) if m.bias else ())]
    if not all(isinstance(w, torch.Tensor) and tuple(w.shape) == s for w, s in zip(weights, shapes)):
        return None
    r = _Recording(x, mode)
    data = InnerTensor.of(x)
    if not batched:
        data = r.view("aten::unsqueeze", data, (0,), *_unsqueezed(data, 0))
    count = 2 if kind is nn.LSTM else 1
    state_shape = (data.shape[0], m.hidden_size)
    if hx is None:
        zeros = r.zeros(state_shape, dtype=x.dtype, device=x.device, pin_memory=False)
        states = [zeros] * count  # LSTMCell passes the one zero tensor as both h and c
    else:
        given = list(hx) if kind is nn.LSTM and isinstance(hx, tuple) else [hx]
        if len(given) != count or not all(_plain(t, x.dtype, 2 if batched else 1) for t in given):
            return None
        states = [InnerTensor.of(t) for t in given]
        if not batched:
            states = [r.view("aten::unsqueeze", s, (0,), *_unsqueezed(s, 0)) for s in states]
        if any(s.shape != state_shape for s in states):
            return None
    cell = _Cell(kind, weights, bool(m.bias), getattr(m, "nonlinearity", "tanh"))
    out: list[InnerTensor] = list(cell.step(r, data, tuple(states), False))
    if not batched:
        out = [r.view("aten::squeeze", o, (0,), *_dropped(o, 0)) for o in out]
    pending = [_pending(r, g) for g in out]
    return (pending[0], pending[1]) if kind is nn.LSTM else pending[0], r.calls
