"""Ops that cost nothing at inference: views, asserts and shape checks, identities. Each is a
zero-cost row with its reason, never "uncounted"."""

from __future__ import annotations

from costmodel.rules.base import AtenCall, OpCost, rule

VIEW_REASON = "view: aliases its input, no data moves"
ASSERT_REASON = "assert / shape check: no tensor work"
SCALAR_REASON = "reads one scalar to Python: no tensor work"

VIEWS = (
    "view", "t", "transpose", "permute", "expand", "slice", "select", "unsqueeze", "squeeze",
    "as_strided", "alias", "detach", "split", "split_with_sizes", "chunk", "unbind", "unfold", "diagonal", "narrow",
    "view_as_real", "view_as_complex", "lift_fresh", "movedim", "expand_as", "view_as",
    "unflatten", "flatten", "numpy_T", "mT", "mH", "adjoint", "swapaxes", "swapdims", "real", "imag",
    "_conj", "conj", "resolve_conj", "resolve_neg", "positive", "_neg_view", "indices", "values",
)  # fmt: skip


@rule(*VIEWS, family="views", free_reason=VIEW_REASON)
def view(call: AtenCall) -> OpCost:
    """A view: FLOPs = 0, MAC = 0 when the output aliases the input; if it had to copy, MAC = in + out."""
    if call.aliases or not call.outputs:
        return OpCost(0, 0)
    return OpCost(0, call.io_elements(), kind="copy")


@rule(
    "_assert_async",
    "_assert_scalar",
    "_assert_tensor_metadata",
    "sym_constrain_range",
    "sym_constrain_range_for_size",
    "_functional_assert_async",
    "_functional_sym_constrain_range",
    "_print",
    family="views",
    free_reason=ASSERT_REASON,
)
def assertion(call: AtenCall) -> OpCost:
    """Asserts and shape checks: FLOPs = 0, MAC = 0."""
    return OpCost(0, 0)


@rule("_local_scalar_dense", "item", "is_nonzero", "equal", family="views", free_reason=SCALAR_REASON)
def scalar_read(call: AtenCall) -> OpCost:
    """Reading one value back to Python (``.item()``): FLOPs = 0, MAC = 0 (one element)."""
    return OpCost(0, 0)


ALLOC_REASON = "allocation only: nothing is read or written"


@rule(
    "empty",
    "empty_like",
    "empty_strided",
    "new_empty",
    "new_empty_strided",
    "empty_permuted",
    "resize",
    "set",
    family="views",
    free_reason=ALLOC_REASON,
)
def allocation(call: AtenCall) -> OpCost:
    """Allocating uninitialised memory: FLOPs = 0, MAC = 0."""
    return OpCost(0, 0)
