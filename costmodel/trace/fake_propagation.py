"""Shape propagation over an fx graph: every node run on fake tensors (or answered by a closed-form
shape rule, or replayed from the node memo), its outputs stored and the aten ops it ran recorded."""

from __future__ import annotations

import contextlib
import functools
import math
import operator
from collections.abc import Iterator
from typing import Any

import torch
import torch.fx as fx
import torch.utils._pytree as pytree
from torch import nn
from torch.fx.immutable_collections import immutable_dict, immutable_list

from costmodel.rules.base import RULES, AtenCall
from costmodel.trace.fake_tensors import FakeTwins
from costmodel.trace.function_shortcuts import direct_function
from costmodel.trace.fx_tracer import first_line
from costmodel.trace.meta_run import run_on_meta
from costmodel.trace.model_errors import NeedsRealValues, OutOfTime, model_error, needs_values
from costmodel.trace.module_shortcuts import direct_call
from costmodel.trace.node_cache import NodeOutcome, node_key, outcome_of, process_salt, recall, remember, replay
from costmodel.trace.pending import PendingTensor, materialised, standing_in
from costmodel.trace.recorders import CompositeRecorder, OpRecorder, storage_key, to_call

__all__ = ["FakePropagation"]


#: torch functions and Tensor methods whose output on one-element tensors and numbers has one element at most
#: the most elements a tensor of known value may hold (a model's token ids, masks and lengths made from
#: them, up to a 1024 × 1024 attention mask; 8 MB as int64): larger ones are faked like any activation,
#: and a node whose output could be larger is not run on known values
KNOWN_LIMIT = 1 << 20
#: ops whose output may hold as many elements as the product of their operands' (an index per row)
_GATHERS = frozenset({operator.getitem, operator.matmul, torch.index_select, torch.gather, "index_select", "gather"})

_SCALAR_FUNCTIONS = frozenset(
    {
        torch.add, torch.sub, torch.mul, torch.div, torch.true_divide, torch.floor_divide, torch.remainder,
        torch.fmod, torch.pow, torch.neg, torch.abs, torch.sign, torch.ceil, torch.floor, torch.round, torch.trunc,
        torch.sqrt, torch.exp, torch.log, torch.log2, torch.clamp, torch.minimum, torch.maximum, torch.where,
        torch.eq, torch.ne, torch.gt, torch.ge, torch.lt, torch.le, torch.logical_and, torch.logical_or,
        torch.logical_not, torch.max, torch.min, torch.sum, torch.prod,
    }
)  # fmt: skip
_SCALAR_METHODS = frozenset(
    {
        "add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder", "fmod", "pow", "neg", "abs",
        "sign", "ceil", "floor", "round", "trunc", "sqrt", "exp", "log", "log2", "clamp", "clamp_min", "clamp_max",
        "eq", "ne", "gt", "ge", "lt", "le", "logical_and", "logical_or", "logical_not", "max", "min", "sum", "prod",
        "item", "to", "type", "type_as", "long", "int", "float", "double", "half", "bfloat16", "bool", "clone",
        "detach", "contiguous", "add_", "sub_", "mul_", "div_", "fill_", "zero_", "copy_", "clamp_",
        "__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__", "__neg__",
        "__radd__", "__rsub__", "__rmul__", "__rtruediv__", "__rfloordiv__",
    }
)  # fmt: skip

#: where the model's integer inputs are known (``known_inputs``), also run for real on known values alone:
#: views, joins, scans, masks and the value-dependent selections (``nonzero``) of the mask and position code
#: token models run; each output is bounded by its operands' sizes
_KNOWN_FUNCTIONS = _SCALAR_FUNCTIONS | frozenset(
    {
        torch.cat, torch.concat, torch.stack, torch.nonzero, torch.cumsum, torch.cumprod, torch.flip, torch.any,
        torch.all, torch.flatten, torch.reshape, torch.unsqueeze, torch.squeeze, torch.transpose, torch.permute,
        torch.masked_fill, torch.bitwise_and, torch.bitwise_or, torch.bitwise_not, torch.logical_xor, torch.argmax,
        torch.argmin, torch.gather, torch.index_select, torch.diff, torch.nn.functional.pad,
    }
)  # fmt: skip
_KNOWN_METHODS = _SCALAR_METHODS | frozenset(
    {
        "view", "reshape", "unsqueeze", "squeeze", "flatten", "transpose", "permute", "t", "view_as", "reshape_as",
        "cumsum", "cumprod", "masked_fill", "masked_fill_", "any", "all", "nonzero", "flip", "bitwise_and",
        "bitwise_or", "bitwise_not", "logical_xor", "argmax", "argmin", "gather", "index_select", "tolist",
        "__and__", "__or__", "__xor__", "__invert__", "__rand__", "__ror__",
    }
)  # fmt: skip
#: Tensor methods whose output size their arguments give (run on known values where it is small)
_SIZED_METHODS = frozenset({"new_ones", "new_zeros", "new_full", "expand", "repeat"})
#: factories whose output is made for real where the model's integer inputs are known (a default mask of ones)
_KNOWN_FACTORIES = frozenset({torch.zeros, torch.ones, torch.full, torch.arange, torch.zeros_like, torch.ones_like})


class FakePropagation(fx.Interpreter):
    """Runs the graph on fake tensors, storing each node's outputs and the aten ops it ran."""

    def __init__(
        self, root: nn.Module, graph: fx.Graph, recorder: OpRecorder, describe: str, twins: FakeTwins, shortcuts: bool = True
    ) -> None:
        super().__init__(root, graph=graph)
        self.shortcuts = shortcuts
        self.recorder = recorder
        self.twins = twins
        self.mode = twins.mode
        self.describe = describe
        self.node_calls: dict[str, list[AtenCall]] = {}
        self.salt = process_salt()
        self.node_outcomes: dict[str, NodeOutcome] = {}
        self.stand_ins: dict[int, PendingTensor] = {}  # by id of the copy's meta tensor (kept alive by twins.keep)
        # symbolic sizes are keys only within this trace's ShapeEnv: such a trace memoises privately (and
        # only such a trace has SymInt sizes)
        self.memo: dict[Any, NodeOutcome] | None = {} if twins.mode.symbolic else None
        # constants may flow (a buffer whose value the copy keeps, a ``torch.tensor(3)`` a node made): nodes
        # reading one run on fake tensors, where FakeTensorMode carries the value, never by rule or memo
        self.constants_may_flow = False  # set by the first get_attr of such a buffer, or a node's constant output
        # the model's integer inputs are real (``trace_model``'s ``known_inputs``): more ops run on known values
        self.known_inputs = False

    def run(self, *args: Any, initial_env: dict[fx.Node, Any] | None = None, enable_io_processing: bool = True) -> Any:
        """fx's ``Interpreter.run`` without its progress bar (tqdm's first bar costs ~2 ms) and without
        its error rewriting (``run_node`` names the layer): each node run in order, values freed after
        their last use, the output returned."""
        self.env = dict(initial_env or {})
        self.args_iter = iter(self.graph.process_inputs(*args) if enable_io_processing else args)
        for node in self.graph.nodes:
            if node not in self.env:
                self.env[node] = self.run_node(node)
            if self.garbage_collect_values:
                for used in self.user_to_last_uses.get(node, []):
                    del self.env[used]
            if node.op == "output":
                out = self.env[node]
                return self.graph.process_outputs(out) if enable_io_processing else out
        return None

    def run_node(self, n: fx.Node) -> Any:
        start = len(self.recorder.calls)
        try:
            result = self._run(n)
        except (NeedsRealValues, OutOfTime):
            raise
        except Exception as exc:
            if needs_values(exc):
                raise NeedsRealValues(f"layer '{n.name}' needs tensor values for its shapes ({first_line(exc)})") from exc
            layer = f"layer '{n.name}'"
            if n.op == "call_module":  # the module's path, as named_modules spells it
                layer = f"layer '{n.target}' ({type(self.fetch_attr(str(n.target))).__name__})"
            raise model_error(exc, self.describe, layer) from exc
        n.meta["val"] = result
        if n.op.startswith("call_"):
            self.node_calls[n.name] = self.recorder.calls[start:]
        return result

    def _run(self, n: fx.Node) -> Any:
        if n.op == "call_module":
            module = self.submodules.get(str(n.target)) or self.fetch_attr(str(n.target))  # paths at start
            if RULES.for_module(module) is not None:  # a user's module rule: one call, its insides muted
                args, kwargs = self._fake_args(self.fetch_args_kwargs_from_env(n), module)
                with self._faking():
                    self.recorder.muted += 1
                    try:
                        out = module(*args, **kwargs)
                    finally:
                        self.recorder.muted -= 1
                self.recorder.add(to_call(type(module).__name__, args, kwargs, out, module))
                return out
            return self._memoised(n, module)
        if n.op in ("call_function", "call_method"):
            return self._memoised(n, n.target)
        result = super().run_node(n)
        if n.op == "get_attr" and result in self.twins.constants and self.memo is None:  # not under symbolic sizes
            self.constants_may_flow = True
        return result

    def known_value(self, value: Any) -> torch.Tensor | None:
        """The real value a traced tensor is known to hold, else None: a buffer of the copy whose value it
        keeps, a constant FakeTensorMode carries, or a real one-element CPU tensor (what a node computed
        from such values, a constant fx attached)."""
        if not isinstance(value, torch.Tensor):
            return None
        constant = self.twins.constants.get(value)
        if constant is not None:
            return constant
        if type(value) is torch.Tensor:
            return value if value.device.type == "cpu" and value.numel() <= KNOWN_LIMIT else None
        return getattr(value, "constant", None)

    def _on_known_values(self, n: fx.Node, target: Any, value: Any) -> bool:
        """Whether node ``n`` is element-wise arithmetic, a comparison, a rounding, a cast or a reduction
        (``_SCALAR_FUNCTIONS``, ``_SCALAR_METHODS``) all of whose tensor arguments hold known values (see
        ``known_value``): on one-element inputs its output has one element at most, so running it for real
        allocates nothing (a factory sized by a known value, ``torch.ones(n, n)``, stays faked)."""
        functions, methods = (_KNOWN_FUNCTIONS, _KNOWN_METHODS) if self.known_inputs else (_SCALAR_FUNCTIONS, _SCALAR_METHODS)
        if n.op == "call_function":
            safe = getattr(target, "__module__", None) in ("_operator", "operator") or target in functions
        else:
            safe = n.op == "call_method" and str(target) in methods
        if self.known_inputs and n.op == "call_method" and str(target) in _SIZED_METHODS:
            args = value[0]
            sizes = args[1:] if str(target) != "new_full" else args[1:2]
            if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
                sizes = tuple(sizes[0])
            if not self._all_known(value) or not all(type(v) is int for v in sizes):
                return False
            multiple = math.prod(sizes) * (args[0].numel() if str(target) == "repeat" else 1)
            return multiple <= KNOWN_LIMIT
        if not safe or not self._all_known(value):
            return False
        return _most_elements(target, value) <= KNOWN_LIMIT

    def _all_known(self, value: Any) -> bool:
        if type(value) is PendingTensor:
            return False
        if isinstance(value, torch.Tensor):
            return self.known_value(value) is not None
        if _is_sequence(value):
            return all(self._all_known(v) for v in value)
        if _is_mapping(value):
            return all(self._all_known(v) for v in value.values())
        return True

    def _computed_on_values(self, n: fx.Node, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Node ``n`` run for real on the known values of its one-element tensors (Encodec's padding
        arithmetic on stride and kernel-size buffers): microseconds, where FakeTensorMode's constant
        propagation takes milliseconds an op. The aten ops it runs are recorded as a fake run records
        them; a one-element result stays a real value, a larger one becomes a fake tensor."""

        def real(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return self.known_value(v)
            if _is_sequence(v):
                return type(v)(real(x) for x in v)
            if _is_mapping(v):
                return {k: real(x) for k, x in v.items()}
            return v

        values, named = real(args), real(kwargs)
        with torch.no_grad(), self.recorder:
            if n.op == "call_method":
                result = getattr(values[0], str(target))(*values[1:], **named)
            else:
                result = target(*values, **named)
        return self._fake_where_large(result)

    def _sizes_as_ints(self, value: Any, inside: bool = False, indexing: bool = False) -> Any:
        """``value`` with each known zero-dim integer tensor inside a tuple, list or slice (a pad width,
        a slice bound: where torch reads an int) replaced by its int, so that the node takes its shape rule
        and the memo; a tensor passed as an operand itself stays a tensor, and so does an index (``indexing``:
        only slice bounds)."""
        if inside and isinstance(value, torch.Tensor):
            known = self.known_value(value)
            if known is not None and known.dim() == 0 and not known.is_floating_point() and known.dtype is not torch.bool:
                return int(known.item())
            return value
        if _is_sequence(value):
            return type(value)(self._sizes_as_ints(v, not indexing, indexing) for v in value)
        if type(value) is slice:
            return slice(*(self._sizes_as_ints(v, True) for v in (value.start, value.stop, value.step)))
        if _is_mapping(value):
            return {k: self._sizes_as_ints(v, inside, indexing) for k, v in value.items()}
        return value

    def _as_constants(self, value: Any) -> Any:
        """``value`` with each real tensor of known value made a fake one: a constant where it has one element
        (FakeTensorMode carries no larger constants)."""
        if type(value) is torch.Tensor and self.known_value(value) is not None:
            mode = self.mode.get()
            return mode.fake_tensor_converter.from_real_tensor(mode, value, make_constant=value.numel() <= 1)
        if _is_sequence(value):
            return type(value)(self._as_constants(v) for v in value)
        if _is_mapping(value):
            return {k: self._as_constants(v) for k, v in value.items()}
        return value

    def _fake_where_large(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if value.numel() <= KNOWN_LIMIT and value.device.type == "cpu":
                return value
            mode = self.mode.get()
            return mode.fake_tensor_converter.from_real_tensor(mode, value)
        if _is_sequence(value):
            return type(value)(self._fake_where_large(v) for v in value)
        return value

    def _memoised(self, n: fx.Node, target: Any) -> Any:
        """Replay the outcome of an earlier node with the same signature, or compute it and remember.
        A node reading known values (``known_value``) is computed on them when they are all it reads; else
        its known sizes inside tuples and slices become ints; a value a node computed that it still reads
        as an operand takes it to a fake run carrying the value; a buffer holding one takes the usual path
        (its value matters to few ops: one that asks for it runs again, carrying it)."""
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        if not self.constants_may_flow or not self._reads_constant((args, kwargs)):
            return self._keyed(n, target, args, kwargs)
        if self._on_known_values(n, target, (args, kwargs)):
            return self._computed_on_values(n, target, args, kwargs)
        start = len(self.recorder.calls)
        result = self._on_constants(n, target, args, kwargs)
        if any(_writes_in_place(call) for call in self.recorder.calls[start:]):
            self._forget_written_values(args, kwargs)
        return result

    def _forget_written_values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """After a node that wrote in place without running on real values (``counts[0] = x.sum()``): the
        tensor it wrote — its first operand, or ``out=`` — and every tensor sharing that storage no longer
        hold known values (FakeTensorMode drops the constant it carries on such a write, for the same
        reason): the real tensors among the values the graph holds become pending ones of their geometry,
        and a buffer of the copy loses its value."""
        written = [*args[:1], *pytree.tree_leaves(kwargs.get("out"))]
        storages = set()
        for value in written:
            if not isinstance(value, torch.Tensor):
                continue
            self.twins.constants.forget(value)
            if type(value) is torch.Tensor and value.device.type == "cpu":
                storages.add(storage_key(value))
        if not storages:
            return
        for node, value in self.env.items():
            if type(value) is torch.Tensor and value.device.type == "cpu" and storage_key(value) in storages:
                self.env[node] = PendingTensor(
                    tuple(value.shape), value.stride(), int(value.storage_offset()), value.dtype, value.device, self.mode
                )

    def _on_constants(self, n: fx.Node, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Node ``n`` reading known values, not all of them known (see ``_memoised``)."""
        given = args, kwargs
        if n.op != "call_module":  # a layer takes its tensors as operands: none of them is a size
            indexing = target is operator.getitem  # x[t] with a 0-dim tensor t gathers: only slice bounds are ints
            first = 1 if n.op == "call_method" else 0  # a method's own tensor stays one (``torch.tensor(3).type_as(x)``)
            args = (*args[:first], *self._sizes_as_ints(args[first:], indexing=indexing))
            kwargs = self._sizes_as_ints(kwargs, indexing=indexing)
        if self._reads_constant((args, kwargs), computed_only=True):
            return self._compute(n, target, args, kwargs, by_rule=False)
        start = len(self.recorder.calls)
        try:
            if self.shortcuts and self.memo is None and _converted(given, (args, kwargs)) and self._reads_unknown(given):
                try:
                    return self._keyed(n, target, args, kwargs, fake=False)
                except _Unruled:  # the ints are refused (an index): on meta, as given, before any fake run
                    ran = run_on_meta(n.op, target, *given, self.twins.devices, self.mode, self.recorder.deadline)
                    if ran is not None:
                        self.recorder.add_all(ran[1])
                        return ran[0]
            return self._keyed(n, target, args, kwargs)
        except TypeError:
            if n.op == "call_module" or not self._reads_constant(given):
                raise
            # a known value read as an int where the function takes a tensor (an index): run it as given
            del self.recorder.calls[start:], self.recorder.owners[start:]
            return self._compute(n, target, *given, by_rule=False)
        except Exception as exc:
            if not needs_values(exc) or not self._reads_constant((args, kwargs)):
                raise
            del self.recorder.calls[start:], self.recorder.owners[start:]
            return self._compute(n, target, args, kwargs, by_rule=False)

    def _keyed(self, n: fx.Node, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], fake: bool = True) -> Any:
        """The memo's outcome of node ``n`` (``target`` its module for call_module) on these arguments, or
        the node computed and its outcome remembered (``fake`` False: ``_Unruled`` rather than a fake run)."""
        symbolic = self.memo is not None
        keyed = node_key(n, target, args, kwargs, self.salt, self.twins.devices, symbolic) if self.shortcuts else None
        if keyed is not None:
            outcome = recall(keyed[0], self.memo)
            if outcome is not None:
                self.recorder.calls.extend(outcome.calls)
                self.recorder.owners.extend([self.recorder.owner] * len(outcome.calls))
                self.node_outcomes[n.name] = outcome
                return replay(outcome, keyed[1], self.mode)
        start = len(self.recorder.calls)
        result = self._compute(n, target, args, kwargs, fake=fake)
        if keyed is not None:
            outcome = outcome_of(result, keyed[1], self.recorder.calls[start:])
            if outcome is not None:
                remember(keyed[0], outcome, self.memo)
                self.node_outcomes[n.name] = outcome
        return result

    def _reads_constant(self, value: Any, computed_only: bool = False) -> bool:
        """Whether ``value`` (arguments, nested in tuples, lists, dicts and slices) holds a tensor with a
        known value (``computed_only``: one a node computed, not a buffer of the copy)."""
        if isinstance(value, torch.Tensor):
            if computed_only and value in self.twins.constants:
                return False
            return self.known_value(value) is not None
        if _is_sequence(value):
            return any(self._reads_constant(v, computed_only) for v in value)
        if _is_mapping(value):
            return any(self._reads_constant(v, computed_only) for v in value.values())
        if type(value) is slice:
            return any(self._reads_constant(v, computed_only) for v in (value.start, value.stop, value.step))
        return False

    def _reads_unknown(self, value: Any) -> bool:
        """Whether ``value`` (arguments, nested in tuples, lists and dicts) holds a tensor whose value is not
        known (``known_value`` None): an activation, a parameter."""
        if isinstance(value, torch.Tensor) or type(value) is PendingTensor:
            return type(value) is PendingTensor or self.known_value(value) is None
        if _is_sequence(value):
            return any(self._reads_unknown(v) for v in value)
        if _is_mapping(value):
            return any(self._reads_unknown(v) for v in value.values())
        return False

    def _compute(
        self, n: fx.Node, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], by_rule: bool = True, fake: bool = True
    ) -> Any:
        """A closed-form shape rule where one applies (and ``by_rule``), else the node run on fake tensors
        (``fake`` False: ``_Unruled`` instead);
        composites (attention) are recorded as one op. The composite recorder is entered here only: as a
        TorchFunctionMode it would tax every torch call of the interpreter and of the replays too."""
        by_rule = by_rule and self.shortcuts
        if by_rule and n.op == "call_module" and not target._forward_hooks and not target._forward_pre_hooks:
            direct = direct_call(target, args, kwargs, self.mode)
            if direct is not None:
                self.recorder.add_all(direct[1])
                return direct[0]
        if by_rule and n.op in ("call_function", "call_method"):
            direct = direct_function(n.op, target, self.standing_in_for(args), self.standing_in_for(kwargs), self.mode)
            if direct is not None:
                self.recorder.add_all(direct[1])
                if self.known_inputs and n.op == "call_function" and target in _KNOWN_FACTORIES:
                    return _made_for_real(target, args, kwargs, direct[0])
                if not self.constants_may_flow and self.memo is None and self._reads_constant(direct[0]):
                    self.constants_may_flow = True  # a tensor of Python data (``torch.tensor(3, device=…)``)
                return direct[0]
        # (a layer's weights are unknown; checked only off the rule path, which tries the meta run anyway)
        if by_rule or self.shortcuts and self.memo is None and (n.op == "call_module" or self._reads_unknown((args, kwargs))):
            # with an operand of unknown value, FakeTensorMode carries no value to the output either: a meta
            # run (which refuses any kernel that reads a value) records the same
            ran = run_on_meta(n.op, target, args, kwargs, self.twins.devices, self.mode, self.recorder.deadline)
            if ran is not None:
                self.recorder.add_all(ran[1])
                return ran[0]
        if not fake:
            raise _Unruled
        args, kwargs = self._fake_args((args, kwargs), target if n.op == "call_module" else None)
        if not by_rule and self.constants_may_flow:  # known values ride as constants: ``int(t)`` reads them
            args, kwargs = self._as_constants(args), self._as_constants(kwargs)
        with self._faking(), CompositeRecorder(self.recorder):
            if n.op == "call_method":
                self_obj, *rest = args
                result = getattr(self_obj, str(target))(*rest, **kwargs)
            else:
                result = target(*args, **kwargs)
        if not self.constants_may_flow and self.memo is None and self._reads_constant(result):
            self.constants_may_flow = True
        return result

    def standing_in_for(self, value: Any) -> Any:
        """``value`` with the copy's meta tensors (parameters and buffers the graph reads) replaced by
        PendingTensors on their real devices (one per tensor), so that shape rules take them; nested
        tuples, lists and dicts are rebuilt only where they hold one."""
        if isinstance(value, torch.Tensor):
            if not self.twins.owns(value):
                return value
            found = self.stand_ins.get(id(value))
            if found is None:
                found = standing_in(value, self.twins.devices[id(value)], self.mode, functools.partial(self.twins.of, value))
                self.stand_ins[id(value)] = found
            return found
        if type(value) is tuple or type(value) is list:
            items = [self.standing_in_for(v) for v in value]
            return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
        if type(value) is dict:
            entries = {k: self.standing_in_for(v) for k, v in value.items()}
            return value if all(entries[k] is v for k, v in value.items()) else entries
        return value

    def _fake_args(self, args_kwargs: tuple[Any, Any], module: nn.Module | None) -> tuple[Any, Any]:
        """Arguments ready to run under FakeTensorMode: pending tensors built, the copy's meta tensors
        (parameters fetched by get_attr) replaced by their fake twins, and so are the module's own."""
        if module is not None:
            self.twins.swap_into(module)

        def twin(t: torch.Tensor) -> torch.Tensor | None:
            return self.twins.of(t) if self.twins.owns(t) else None

        args, kwargs = args_kwargs
        return materialised(args, twin), materialised(kwargs, twin)

    @contextlib.contextmanager
    def _faking(self) -> Iterator[None]:
        """FakeTensorMode with the op recorder inside it, entered only around a node that must run."""
        with self.mode.get(), self.recorder:
            yield


class _Unruled(Exception):
    """No rule or meta run answers the node (raised where a fake run was not wanted)."""


def _converted(given: Any, converted: Any) -> bool:
    """Whether ``converted`` differs from ``given`` in any leaf (a known value read as an int)."""
    return any(a is not b for a, b in zip(pytree.tree_leaves(given), pytree.tree_leaves(converted)))


def _most_elements(target: Any, value: Any) -> int:
    """An upper bound on the elements a node computes on known values (``value``: its arguments): for
    gathers and products the product of its tensors' sizes; for ``F.pad`` the padded size; for the rest
    (element-wise, reductions, views, joins, scans) the larger of their broadcast size and their sizes'
    sum — for ``nonzero`` times the rank (an index per dim)."""
    tensors = [t for t in pytree.tree_leaves(value) if isinstance(t, torch.Tensor)]
    sizes = [t.numel() for t in tensors]
    if target in _GATHERS:
        return math.prod(max(n, 1) for n in sizes)
    if target is torch.nn.functional.pad:
        args = value[0]
        widths = args[1] if len(args) > 1 else value[1].get("pad", ())
        shape = list(tensors[0].shape)
        for i, (low, high) in enumerate(zip(widths[::2], widths[1::2])):
            if i < len(shape):
                shape[-1 - i] += low + high
        return math.prod(shape)
    try:
        broadcast = math.prod(torch.broadcast_shapes(*(t.shape for t in tensors))) if tensors else 1
    except RuntimeError:
        broadcast = 0
    rank = max((t.dim() for t in tensors), default=1) if target in (torch.nonzero, "nonzero") else 1
    return max(broadcast, sum(sizes)) * max(rank, 1)


def _made_for_real(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], made: Any) -> Any:
    """A factory's output (``made`` by its rule) as a real tensor of the same geometry — run for real: no
    tensor operand, or the ``*_like`` template's geometry filled with 0 or 1 — where it is on the CPU and
    holds at most ``KNOWN_LIMIT`` elements; else ``made`` itself."""
    if type(made) is not PendingTensor or made.device.type != "cpu" or math.prod(made.shape) > KNOWN_LIMIT:
        return made
    if target in (torch.zeros_like, torch.ones_like):
        real = torch.empty_strided(tuple(made.shape), made.stride(), dtype=made.dtype).fill_(int(target is torch.ones_like))
    else:
        real = target(*args, **kwargs)
    same = (tuple(real.shape), real.stride(), real.dtype) == (tuple(made.shape), made.stride(), made.dtype)
    return real if same else made


def _writes_in_place(call: AtenCall) -> bool:
    """Whether aten ``call`` writes into a tensor it was given: an in-place op (``copy_``, ``fill_``,
    ``index_put_``: the trailing underscore) or an ``out=`` variant."""
    return call.op.endswith("_") or "out" in call.kwargs


def _is_sequence(value: Any) -> bool:
    """A tuple or list holding arguments (fx hands lists over as ``immutable_list``; not a named tuple or
    torch's return types, which are rebuilt otherwise)."""
    return type(value) in (tuple, list, immutable_list)


def _is_mapping(value: Any) -> bool:
    """A dict holding arguments (fx hands keyword arguments over as ``immutable_dict``)."""
    return type(value) in (dict, immutable_dict)
