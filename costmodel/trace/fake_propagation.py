"""Shape propagation over an fx graph: every node run on fake tensors (or answered by a closed-form
shape rule, or replayed from the node memo), its outputs stored and the aten ops it ran recorded."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from costmodel.rules.base import RULES, AtenCall
from costmodel.trace.fake_tensors import FakeTwins
from costmodel.trace.function_shortcuts import direct_function
from costmodel.trace.fx_tracer import first_line
from costmodel.trace.model_errors import NeedsRealValues, OutOfTime, model_error, needs_values
from costmodel.trace.module_shortcuts import direct_call
from costmodel.trace.node_cache import NodeOutcome, node_key, outcome_of, process_salt, recall, remember, replay
from costmodel.trace.pending import PendingTensor, materialised, standing_in
from costmodel.trace.recorders import CompositeRecorder, OpRecorder, to_call

__all__ = ["FakePropagation"]


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
        return super().run_node(n)

    def _memoised(self, n: fx.Node, target: Any) -> Any:
        """Replay the outcome of an earlier node with the same signature, or compute it and remember."""
        args, kwargs = self.fetch_args_kwargs_from_env(n)
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
        result = self._compute(n, target, args, kwargs)
        if keyed is not None:
            outcome = outcome_of(result, keyed[1], self.recorder.calls[start:])
            if outcome is not None:
                remember(keyed[0], outcome, self.memo)
                self.node_outcomes[n.name] = outcome
        return result

    def _compute(self, n: fx.Node, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A closed-form shape rule where one applies, else the node run on fake tensors; composites
        (attention) are recorded as one op. The composite recorder is entered here only: as a
        TorchFunctionMode it would tax every torch call of the interpreter and of the replays too."""
        if self.shortcuts and n.op == "call_module" and not target._forward_hooks and not target._forward_pre_hooks:
            direct = direct_call(target, args, kwargs, self.mode)
            if direct is not None:
                self.recorder.add_all(direct[1])
                return direct[0]
        if self.shortcuts and n.op in ("call_function", "call_method"):
            direct = direct_function(n.op, target, self.standing_in_for(args), self.standing_in_for(kwargs), self.mode)
            if direct is not None:
                self.recorder.add_all(direct[1])
                return direct[0]
        args, kwargs = self._fake_args((args, kwargs), target if n.op == "call_module" else None)
        with self._faking(), CompositeRecorder(self.recorder):
            if n.op == "call_method":
                self_obj, *rest = args
                return getattr(self_obj, str(target))(*rest, **kwargs)
            return target(*args, **kwargs)

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
