"""Measure real runtime: per node, by running the traced fx graph node by node, and for the whole model.

Per-node times are keyed by fx node name and join the analytical rows through the node each row records
(the same traced graph). Every timing is a median over ``repeats`` after ``warmup`` runs, under
``torch.no_grad()``, in eval mode, with a fixed thread count, on real tensors built from the input specs
(shapes and dtypes). CUDA timings synchronise around each node. The model's parameters, buffers and
training flags are left exactly as they were.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from costmodel.errors import CostModelError
from costmodel.inputs import ModelInputs, TensorSpec, bind_placeholders, materialise, normalise_inputs
from costmodel.trace.fake_tensors import real_tensor_map
from costmodel.trace.fx_trace import TracedModel, eval_mode_preserved
from costmodel.trace.model_copy import copy_model


@dataclass(frozen=True)
class Timing:
    """Median and spread (25th–75th percentile) of repeated timings, in milliseconds."""

    median_ms: float
    p25_ms: float
    p75_ms: float
    repeats: int

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        """Summarise raw timings (seconds)."""
        ms = sorted(s * 1e3 for s in seconds)
        if len(ms) >= 4:
            q = statistics.quantiles(ms, n=4)
            p25, p75 = q[0], q[2]
        else:
            p25, p75 = ms[0], ms[-1]
        return cls(statistics.median(ms), p25, p75, len(ms))


@dataclass
class Measurement:
    """Per-node timings (by fx node name) and the whole eager model's timing, with the setup recorded."""

    nodes: dict[str, Timing]
    model: Timing
    device: str
    dtype: str
    threads: int
    input_shape: list[int]
    torch_version: str = torch.__version__
    model_rounds_ms: list[float] = dataclass_field(default_factory=list)  # whole-model median of each round

    @property
    def model_spread_pct(self) -> float:
        """Run-to-run spread of the whole model: (slowest − fastest round median) / median, in %."""
        rounds = self.model_rounds_ms
        if len(rounds) < 2:
            return 0.0
        return 100.0 * (max(rounds) - min(rounds)) / statistics.median(rounds)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_problem(threads: int) -> str | None:
    """Why ``threads`` cannot be used, or None. A thread count must be 1 … the cores available: more
    times contention, not the model (and an absurd count crashes the OpenMP runtime)."""
    cores = available_cores()
    return None if 1 <= threads <= cores else f"give 1 to {cores} (the CPU cores available here)"


def check_threads(threads: int) -> None:
    """Raise a one-line CostModelError for a thread count :func:`threads_problem` refuses."""
    problem = threads_problem(threads)
    if problem is not None:
        raise CostModelError(f"--threads {threads}: {problem}")


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Run with ``torch.set_num_threads(threads)`` (checked: 1 … the cores available), restoring the
    previous count afterwards."""
    check_threads(threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def require_device(device: str) -> torch.device:
    """The torch.device for ``device``, or a one-line CostModelError when CUDA is asked for but absent."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CostModelError(f"--device {device} was asked for, but torch sees no CUDA device here")
    return dev


def sync_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class NodeTimer(fx.Interpreter):
    """Runs the traced graph on real tensors, timing every call node (synchronised on CUDA).

    Every value of a run is kept until the run ends, so a node's time is its own op and not the
    freeing of tensors whose last user it happened to be (the eager whole-model time includes those
    frees). The cost: one forward's activations are all alive at once.
    """

    def __init__(self, root: nn.Module, graph: fx.Graph, device: torch.device) -> None:
        super().__init__(root, graph=graph, garbage_collect_values=False)
        self.device = device
        self.seconds: dict[str, list[float]] = {}

    def run_node(self, n: fx.Node) -> Any:
        if not n.op.startswith("call_"):
            return super().run_node(n)
        sync_device(self.device)
        start = time.perf_counter()
        result = super().run_node(n)
        sync_device(self.device)
        self.seconds.setdefault(n.name, []).append(time.perf_counter() - start)
        return result


def _time_calls(fn: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> list[float]:
    for _ in range(warmup):
        fn()
    sync_device(device)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync_device(device)
        out.append(time.perf_counter() - start)
    return out


def measure(
    traced: TracedModel,
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    threads: int = 1,
    repeats: int = 20,
    warmup: int = 3,
    progress: Callable[[int], None] | None = None,
    rounds: int = 3,
) -> Measurement:
    """Time every call node of ``traced`` (node by node) and, separately, the eager model, on ``device``.

    The work is split into ``rounds`` (≥ 2 when repeats allow) that alternate node-by-node and
    whole-model timing, so the whole model is measured several times apart and its run-to-run spread
    is known (``Measurement.model_spread_pct``). A private copy of the model is timed (see
    :func:`private_copy`, in eval mode) on an input from a private generator: the caller's model and
    RNGs are unchanged. ``progress`` is called with 1 after each node-by-node repeat (for a progress bar).
    """
    dev = require_device(device)
    root = private_copy(traced.real_root(), dev, dtype)
    _add_trace_constants(root, traced, dev)
    args, kwargs = real_inputs(traced.inputs, dtype, dev)
    placeholders = graph_inputs(traced, root, args, kwargs)
    timer = NodeTimer(root, traced.graph, dev)
    whole: list[float] = []
    round_medians: list[float] = []
    with fixed_threads(threads), torch.no_grad():
        for _ in range(warmup):
            timer.run(*placeholders)
        timer.seconds.clear()
        for share in _shares(repeats, rounds):
            for _ in range(share):
                timer.run(*placeholders)
                if progress is not None:
                    progress(1)
            samples = _time_calls(lambda: root(*args, **kwargs), max(share, 3), warmup, dev)
            whole += samples
            round_medians.append(statistics.median(samples) * 1e3)
    return Measurement(
        nodes={name: Timing.of(s) for name, s in timer.seconds.items()},
        model=Timing.of(whole),
        device=device_name(dev),
        dtype=str(dtype).removeprefix("torch."),
        threads=threads,
        input_shape=list(traced.input_shape),
        model_rounds_ms=round_medians,
    )


def _shares(repeats: int, rounds: int) -> list[int]:
    """``repeats`` split into ``rounds`` near-equal parts (at least 2 rounds, each at least 1 repeat)."""
    rounds = max(2, min(rounds, repeats))
    return [repeats // rounds + (1 if i < repeats % rounds else 0) for i in range(rounds)]


def measure_modules(
    model: nn.Module,
    inputs: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    device: str = "cpu",
    threads: int = 1,
    repeats: int = 20,
    warmup: int = 3,
    rounds: int = 3,
    progress: Callable[[int], None] | None = None,
) -> Measurement:
    """For models fx cannot trace: time every leaf module (forward pre/post hooks, synchronised on
    CUDA) per forward, summed over its calls, and the whole model, in interleaved rounds.

    ``model`` must already be on ``device`` with its dtype; hooks are removed afterwards and training
    flags restored. Keys of ``nodes`` are module paths as ``named_modules`` spells them.
    """
    dev = require_device(device)
    per_forward: dict[str, float] = {}
    samples: dict[str, list[float]] = {}
    starts: dict[str, float] = {}

    def before(path: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any) -> None:
            sync_device(dev)
            starts[path] = time.perf_counter()

        return hook

    def after(path: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            sync_device(dev)
            per_forward[path] = per_forward.get(path, 0.0) + time.perf_counter() - starts[path]

        return hook

    leaves = [(path, m) for path, m in model.named_modules() if path and not list(m.children())]

    def timed_forward() -> None:
        per_forward.clear()
        model(*inputs, **kwargs)
        for path, seconds in per_forward.items():
            samples.setdefault(path, []).append(seconds)

    def attach() -> list[Any]:
        return [
            h for path, m in leaves for h in (m.register_forward_pre_hook(before(path)), m.register_forward_hook(after(path)))
        ]

    whole: list[float] = []
    round_medians: list[float] = []
    with fixed_threads(threads), torch.no_grad(), eval_mode_preserved(model):
        handles = attach()
        try:
            for _ in range(warmup):
                timed_forward()
            samples.clear()
            for share in _shares(repeats, rounds):
                for _ in range(share):
                    timed_forward()
                    if progress is not None:
                        progress(1)
                for handle in handles:
                    handle.remove()
                round_samples = _time_calls(lambda: model(*inputs, **kwargs), max(share, 3), warmup, dev)
                whole += round_samples
                round_medians.append(statistics.median(round_samples) * 1e3)
                handles = attach()
        finally:
            for handle in handles:
                handle.remove()
    first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
    return Measurement(
        nodes={path: Timing.of(s) for path, s in samples.items()},
        model=Timing.of(whole),
        device=device_name(dev),
        dtype=str(first.dtype).removeprefix("torch.") if first is not None else "float32",
        threads=threads,
        input_shape=list(first.shape) if first is not None else [],
        model_rounds_ms=round_medians,
    )


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"cpu:{cpu_model_name()}"


def cpu_model_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def time_model(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    threads: int = 1,
    repeats: int = 10,
    warmup: int = 2,
) -> Timing:
    """Median eager latency of ``model`` on a random input (no_grad, eval mode, fixed threads).

    A private copy is timed (:func:`private_copy`): the caller's model and RNGs are unchanged.
    """
    dev = require_device(device)
    copy_ = private_copy(model, dev, dtype)
    x = random_input(input_shape, dtype, dev)
    with fixed_threads(threads), torch.no_grad():
        return Timing.of(_time_calls(lambda: copy_(x), repeats, warmup, dev))


def _add_trace_constants(root: nn.Module, traced: TracedModel, device: torch.device) -> None:
    """Give the timed copy the constants fx stored on the traced root (``_tensor_constant0``: a tensor the
    forward built at trace time): real tensors made while tracing, so they can be timed with."""
    for node in traced.graph.nodes:
        if node.op != "get_attr" or _has_path(root, str(node.target)):
            continue
        value = traced.root
        for part in str(node.target).split("."):
            value = getattr(value, part)
        if isinstance(value, torch.Tensor) and (value.is_meta or type(value) is not torch.Tensor):
            raise CostModelError(f"'{node.target}' is a constant of the traced graph without real values: cannot time it")
        *parents, leaf = str(node.target).split(".")
        owner = root
        for part in parents:
            owner = getattr(owner, part)
        setattr(owner, leaf, value.to(device) if isinstance(value, torch.Tensor) else value)


def _has_path(module: nn.Module, path: str) -> bool:
    value: Any = module
    for part in path.split("."):
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def private_copy(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """A copy of ``model`` with its own real tensors (cloned, floating point cast to ``dtype``) on
    ``device``, in eval mode, sharing no Python state with it: timing it changes nothing of the user's
    (a forward that updates buffers or caches writes the copy)."""
    return copy_model(model, real_tensor_map(dtype)).to(device=device)


def real_inputs(inputs: Any, dtype: torch.dtype, device: torch.device) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Real tensors for every input spec (a shape, several, ``TensorSpec``s with dtypes, an ``(args,
    kwargs)`` pair): floating ones standard-normal from a private generator (seed 0: the global RNG is not
    advanced), integer and boolean ones all ones (token id 1 exists in every vocabulary; a mask of ones
    attends everywhere)."""
    spec = normalise_inputs(inputs)
    generator = torch.Generator(device=device).manual_seed(0)

    def make(s: TensorSpec) -> torch.Tensor:
        dt = s.dtype or dtype
        if dt.is_floating_point:
            return torch.randn(s.shape, dtype=dt, device=device, generator=generator)
        return torch.ones(s.shape, dtype=dt, device=device)

    return tuple(materialise(spec.args, make)), dict(materialise(spec.kwargs, make))


def graph_inputs(traced: TracedModel, root: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The traced graph's placeholder values, in order, for real ``args`` and ``kwargs``."""
    placeholders = [n for n in traced.graph.nodes if n.op == "placeholder"]
    defaults = [n.args[0] if n.args else None for n in placeholders]
    module = traced.model if traced.is_wrapped_leaf else root
    return bind_placeholders(module, [str(n.target) for n in placeholders], ModelInputs(args, kwargs), defaults)


def random_input(shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A standard-normal input from a private generator (seed 0): the global RNG is not advanced."""
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.randn(tuple(shape), dtype=dtype, device=device, generator=generator)
