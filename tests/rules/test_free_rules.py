"""Free ops stay free and views that copy do not: held to the conventions written out here (a view that
aliases costs nothing; a "view" that had to copy reads its input and writes its output; asserts, scalar
reads and allocations cost 0 FLOPs and 0 MAC), through real forwards in both walks."""

from __future__ import annotations

import torch
from torch import nn

from costmodel import analyze
from costmodel.rules import RULES, AtenCall
from costmodel.rules.tensor_meta import TensorMeta


def _call(op: str, shape: tuple[int, ...], aliases: bool, outputs: bool = True) -> AtenCall:
    meta = TensorMeta(shape, torch.float32)
    return AtenCall(op, (meta,), {}, (meta,), (meta,) if outputs else (), aliases=aliases)


def test_a_view_is_free_only_when_it_aliases() -> None:
    entry = RULES.for_op("aten::view")
    assert entry is not None and entry.family == "views"
    assert (entry.rule(_call("aten::view", (2, 3), aliases=True)).mac, entry.free_reason) == (0, entry.free_reason)
    copied = entry.rule(_call("aten::view", (2, 3), aliases=False))
    assert (copied.flops, copied.mac, copied.kind) == (0, 6 + 6, "copy")  # read 6, write 6
    assert entry.rule(_call("aten::view", (2, 3), aliases=False, outputs=False)).mac == 0  # nothing returned


class _Housekeeping(nn.Module):
    """An allocation, an assert, a scalar read back to Python: none moves tensor data."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.empty_like(x)
        torch._assert_async(torch.ones((), dtype=torch.bool))
        scale = x.abs().sum().item()  # data-dependent: the aten walk runs it on real tensors
        return y.copy_(x) * scale


def test_allocations_asserts_and_scalar_reads_cost_nothing() -> None:
    report = analyze(_Housekeeping(), (2, 8))
    assert report.walk == "aten" and report.uncounted == []
    free = {r.op: r for r in report.layers if r.op in ("empty_like", "_assert_async", "_local_scalar_dense")}
    assert set(free) == {"empty_like", "_assert_async", "_local_scalar_dense"}
    for row in free.values():
        assert (row.flops, row.mac, row.params) == (0, 0, 0) and row.reason, row.op
    copy = next(r for r in report.layers if r.op == "copy_")
    assert copy.mac == 2 * 16  # the copy reads x and writes y: not free


def test_a_rule_registered_again_is_used_not_a_memoised_cost() -> None:
    # costs are memoised per rule-table version: register A, unregister, register B must cost with B,
    # never reuse what A gave (the version only ever moves forward)
    from costmodel import OpCost, register, unregister
    from tests.models.custom import UpsampleNet

    model = UpsampleNet()
    flops = []
    for factor in (1, 3):
        register("costmodel_test::mystery", lambda call, f=factor: OpCost(f * call.output.numel, call.io_elements()))
        try:
            flops.append(next(r.flops for r in analyze(model, (1, 3, 4, 4)).layers if r.name == "mystery"))
        finally:
            unregister("costmodel_test::mystery")
    assert flops == [4 * 16, 3 * 4 * 16]
