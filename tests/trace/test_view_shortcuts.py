"""The view rules (basic indexing, permute, expand, unsqueeze) are torch's: held to FakeTensorMode on
random indices of random layouts, call for call, and never running a node faked when they answer."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from torch import nn

from costmodel.trace.fake_tensors import LazyFakeMode
from costmodel.trace.fx_trace import trace_model
from costmodel.trace.node_cache import forget
from tests.trace.node_records import node_records


class Viewed(nn.Module):
    """``x`` permuted to ``order``, then indexed by ``index``, expanded to ``sizes`` and unsqueezed at ``dim``."""

    def __init__(self, order: list[int], index: Any, sizes: list[int] | None, dim: int | None) -> None:
        super().__init__()
        self.order, self.index, self.sizes, self.dim = order, index, sizes, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(self.order)[self.index]
        if self.sizes is not None:
            y = y.expand(self.sizes)
        if self.dim is not None:
            y = y.unsqueeze(self.dim)
        return y


def _index(rng: random.Random, shape: list[int]) -> Any:
    """A random basic index of ``shape``: ints in range, slices with bounds inside and outside the
    size (negative too) and steps, None, at most one Ellipsis."""
    items: list[Any] = []
    dim = 0
    ellipsis_at = rng.randrange(len(shape) + 1) if rng.random() < 0.3 else -1
    while dim < len(shape) and rng.random() < 0.85:
        if dim == ellipsis_at:
            items.append(Ellipsis)
            dim = len(shape) - rng.randint(0, len(shape) - dim)
            ellipsis_at = -1
            continue
        kind = rng.random()
        size = shape[dim]
        if kind < 0.15:
            items.append(None)
            continue
        if kind < 0.4 and size > 0:
            items.append(rng.randint(-size, size - 1))
        else:
            start, stop = (None if rng.random() < 0.3 else rng.randint(-size - 2, size + 2) for _ in range(2))
            items.append(slice(start, stop, rng.choice([None, 1, 2, 3])))
        dim += 1
    return tuple(items) if len(items) != 1 or rng.random() < 0.5 else items[0]


def _expansion(rng: random.Random, shape: torch.Size) -> list[int] | None:
    if rng.random() < 0.4:
        return None
    sizes = [rng.choice([-1, s]) if s != 1 else rng.choice([-1, 1, 3]) for s in shape]
    return [rng.choice([1, 2]) for _ in range(rng.randint(0, 2))] + sizes  # new leading dims: 1s take a stride


@pytest.mark.parametrize("seed", range(8))
def test_random_views_record_what_a_fake_run_records(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    faked = []
    built: list[int] = []
    get = LazyFakeMode.get
    monkeypatch.setattr(LazyFakeMode, "get", lambda self: built.append(1) or get(self))
    for _ in range(40):
        shape = [rng.choice([1, 2, 3, 5]) for _ in range(rng.randint(1, 4))]  # empty ones come from slices
        order = list(range(len(shape)))
        rng.shuffle(order)
        if rng.random() < 0.5:
            order = [d - len(shape) if rng.random() < 0.5 else d for d in order]  # negative dims
        index = _index(rng, [shape[d] for d in order])
        with torch.no_grad():
            viewed = torch.empty(shape).permute(order)[index]
        sizes = _expansion(rng, viewed.shape)
        dim = rng.randint(-viewed.dim() - 1, viewed.dim()) if rng.random() < 0.5 else None
        model = Viewed(order, index, sizes, dim)
        reference = node_records(trace_model(model, tuple(shape), shortcuts=False))
        forget()  # the reference built a mode: the count starts after it
        built.clear()
        records = node_records(trace_model(model, tuple(shape)))
        assert records == reference, (shape, order, index, sizes, dim)
        if built:
            faked.append((shape, order, index, sizes, dim))
    assert faked == []  # every one of these views has a closed form


class Reshaped(nn.Module):
    """``x`` permuted and sliced, then reshaped (or viewed) to ``sizes``, then flattened from ``start``."""

    def __init__(self, order: list[int], index: Any, sizes: list[int], as_view: bool, start: int) -> None:
        super().__init__()
        self.order, self.index, self.sizes, self.as_view, self.start = order, index, sizes, as_view, start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(self.order)[self.index]
        y = y.view(self.sizes) if self.as_view else y.reshape(self.sizes)
        return y.flatten(self.start)


def _factorisation(rng: random.Random, shape: torch.Size) -> list[int]:
    """Random sizes with ``shape``'s element count: merged neighbours, split factors, inserted 1s, one -1."""
    factors = [f for s in shape for f in _prime_factors(s)] if 0 not in shape else list(shape)
    sizes: list[int] = []
    for f in factors:
        if sizes and rng.random() < 0.4 and 0 not in sizes:
            sizes[-1] *= f
        else:
            sizes.append(f)
        if rng.random() < 0.15:
            sizes.append(1)
    if sizes and rng.random() < 0.3:
        sizes[rng.randrange(len(sizes))] = -1 if 0 not in shape else sizes[0]
    return sizes or [1]


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out or [1]


@pytest.mark.parametrize("seed", range(6))
def test_random_reshapes_record_what_a_fake_run_records(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Views of permuted, sliced tensors where strides allow one, copies where they do not (the rule
    finds which by the same chunk arithmetic as torch); ``view`` where none exists raises as torch does."""
    rng = random.Random(100 + seed)
    built: list[int] = []
    get = LazyFakeMode.get
    monkeypatch.setattr(LazyFakeMode, "get", lambda self: built.append(1) or get(self))
    kinds = set()
    for _ in range(40):
        shape = [rng.choice([1, 2, 3, 4, 6]) for _ in range(rng.randint(1, 4))]
        order = list(range(len(shape)))
        rng.shuffle(order)
        index = _index(rng, [shape[d] for d in order])
        with torch.no_grad():
            viewed = torch.empty(shape).permute(order)[index]
        if viewed.dim() == 0:
            continue
        sizes = _factorisation(rng, viewed.shape)
        as_view = rng.random() < 0.3
        start = rng.randint(-len(sizes), len(sizes) - 1)
        model = Reshaped(order, index, sizes, as_view, start)
        try:
            reference = node_records(trace_model(model, tuple(shape), shortcuts=False))
        except Exception as exc:  # a view torch refuses: refused by ours too, for the same reason
            forget()
            with pytest.raises(type(exc)):
                trace_model(model, tuple(shape))
            kinds.add("refused")
            continue
        forget()
        built.clear()
        records = node_records(trace_model(model, tuple(shape)))
        assert records == reference, (shape, order, index, sizes, as_view, start)
        kinds.add("copied" if any(c.op == "aten::clone" for _, calls in records.values() for c, _group in calls) else "viewed")
        assert not built, (shape, order, index, sizes, as_view, start)
    assert "viewed" in kinds and len(kinds) > 1


class Gathered(nn.Module):
    """``x`` permuted to ``order``, then indexed by integer tensors at ``positions`` (their shapes drawn to
    broadcast), whole slices elsewhere, an Ellipsis where ``ellipsis``: LeViT's attention-bias gather and
    mask code's ``ids[rows, cols]``."""

    def __init__(self, order: list[int], positions: list[int], shapes: list[tuple[int, ...]], ellipsis: bool) -> None:
        super().__init__()
        self.order, self.positions, self.ellipsis = order, positions, ellipsis
        for i, shape in enumerate(shapes):
            self.register_buffer(f"index{i}", torch.zeros(shape, dtype=torch.int64 if i % 2 == 0 else torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(self.order)
        items: list[Any] = [slice(None)] * (max(self.positions) + 1)
        for i, at in enumerate(self.positions):
            items[at] = getattr(self, f"index{i}")
        if self.ellipsis:
            items = [*items, Ellipsis] if len(items) < y.dim() else items
        return y[tuple(items)] if len(items) > 1 else y[items[0]]


@pytest.mark.parametrize("seed", range(4))
def test_random_gathers_record_what_a_fake_run_records(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    built: list[int] = []
    get = LazyFakeMode.get
    for _ in range(15):
        rank = rng.randint(1, 4)
        shape = [rng.choice([1, 2, 3, 4]) for _ in range(rank)]
        order = rng.sample(range(rank), rank)
        positions = sorted(rng.sample(range(rank), rng.randint(1, rank)))
        broadcast = tuple(rng.choice([1, 2, 3]) for _ in range(rng.randint(1, 2)))
        shapes = [tuple(s if rng.random() < 0.7 else 1 for s in broadcast) for _ in positions]
        model = Gathered(order, positions, shapes, rng.random() < 0.3).eval()
        reference = node_records(trace_model(model, tuple(shape), shortcuts=False))
        forget()
        monkeypatch.setattr(LazyFakeMode, "get", lambda self: built.append(1) or get(self))
        assert node_records(trace_model(model, tuple(shape))) == reference, (shape, order, positions, shapes)
        monkeypatch.setattr(LazyFakeMode, "get", get)
    assert not built  # every gather answered by the rule


class NumberWritten(nn.Module):
    """``x`` (of ``dtype``) permuted to ``order``, then ``number`` written at ``index``."""

    def __init__(self, order: list[int], index: Any, number: Any, dtype: torch.dtype) -> None:
        super().__init__()
        self.order, self.index, self.number, self.dtype = order, index, number, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x * 2).to(self.dtype).permute(self.order)
        y[self.index] = self.number
        return y


@pytest.mark.parametrize("seed", range(4))
def test_random_numbers_written_record_what_a_fake_run_records(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``y[index] = number`` at random basic indices of random layouts and dtypes: torch's lift_fresh, the
    index's views and fill_, as FakeTensorMode records them, without a fake run."""
    rng = random.Random(100 + seed)
    built: list[int] = []
    get = LazyFakeMode.get
    monkeypatch.setattr(LazyFakeMode, "get", lambda self: built.append(1) or get(self))
    faked = []
    for case in range(25):
        shape = [rng.choice([1, 2, 3, 5]) for _ in range(rng.randint(1, 4))]
        order = list(range(len(shape)))
        rng.shuffle(order)
        index = _index(rng, [shape[d] for d in order])
        if case == 0:
            index = slice(None)  # x[:] = number: a lone slice
        number = rng.choice([0, 1, -2.5, True, 3.0])
        dtype = rng.choice([torch.float32, torch.int64, torch.bool, torch.float16])
        model = NumberWritten(order, index, number, dtype)
        reference = node_records(trace_model(model, tuple(shape), shortcuts=False))
        forget()
        built.clear()
        assert node_records(trace_model(model, tuple(shape))) == reference, (shape, order, index, number, dtype)
        if built:
            faked.append((shape, order, index, number, dtype))
    assert faked == []
