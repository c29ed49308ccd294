"""A formula and a formula sweep as Documents: per-row expressions with the totals, the domain and the
growth of each total; a sweep's values with the family doing most of the FLOPs and where it changes."""

from __future__ import annotations

from typing import Any

from costmodel.render.table import Column, Document, Format, Table
from costmodel.symbolic.printing import expr_text
from costmodel.symbolic.result import Formula
from costmodel.symbolic.sweep import FormulaSweep


def _growth_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for metric, growth in data["growth"].items():
        if growth is None:
            lines.append(f"growth of {metric}: not a polynomial of the sizes (Min/Max/Piecewise)")
            continue
        top = ", ".join(f"{d['name']} {d['share']:.0%}" for d in growth["dominant_rows"])
        lines.append(f"growth of {metric}: ~ {growth['order']} (leading term {growth['leading']}); dominant rows: {top or '-'}")
    return lines


def formula_document(result: Formula, fmt: Format = "table", *, show_free: bool = False, top: int | None = None) -> Document:
    """Rows (name, op, family, FLOPs, MAC, params, activations as expressions; tables hide rows of 0
    FLOPs and 0 MAC unless ``show_free``; ``top`` keeps the N rows of fastest-growing FLOPs), a TOTAL row,
    the domain and the growth lines. JSON is ``result.to_dict()``."""
    data = result.to_dict()
    layers = data["layers"]
    if fmt == "table" or fmt == "markdown":
        shown = [r for r in layers if show_free or r["flops"] != "0" or r["mac"] != "0"]
    else:
        shown = layers
    hidden = len(layers) - len(shown)
    if top is not None:
        order = {d["name"]: i for i, d in enumerate((data["growth"]["flops"] or {}).get("dominant_rows", []))}
        shown = sorted(shown, key=lambda r: order.get(r["name"], len(order)))[:top]
    mac_header = "MAC (bytes)" if result.mac_unit == "bytes" else "MAC"
    columns = [
        Column("name", "name"),
        Column("op", "op"),
        Column("family", "family"),
        Column("FLOPs (multiply-adds)", "flops"),
        Column(mac_header, "mac"),
        Column("params", "params", "int"),
        Column("activations", "activations"),
    ]
    body = [[r["name"], r["op"], r["family"], r["flops"], r["mac"], r["params"], r["activations"]] for r in shown]
    totals = data["totals"]
    if fmt == "csv":
        body.append(["TOTAL", "", "", totals["flops"], totals["mac"], int(totals["params"]), totals["activations"]])
    symbols = ", ".join(f"{s} (traced at {h})" for s, h in data["hints"].items())
    heading = [
        f"{result.model} · input {result.inputs} · {result.dtype} · sizes {symbols} · {result.walk} walk",
        f"FLOPs = multiply-adds; MAC = memory access cost in {result.mac_unit}; activations = elements of each row's output;"
        " exact expressions (floor/ceiling where strides and pooling make them)",
    ]
    footer = [
        f"TOTAL {label} = {totals[key]}"
        for key, label in (("flops", "FLOPs"), ("mac", "MAC"), ("params", "params"), ("activations", "activations"))
    ]
    footer += [
        "domain (the formula equals `report` exactly wherever all hold): "
        + ("; ".join(c["condition"] for c in data["domain"]["conditions"]) or "every size")
    ]
    footer += _growth_lines(data)
    if hidden:
        rows = "rows" if hidden > 1 else "row"
        footer.append(f"{hidden} {rows} of 0 FLOPs and 0 MAC (views, shape arithmetic) not shown; --all shows them")
    if result.uncounted:
        footer.append("uncounted: " + ", ".join(f"{u.name} ({u.op})" for u in result.uncounted))
    footer += result.notes
    return Document(heading, [Table(columns, body)], footer, data)


def sweep_document(result: FormulaSweep, fmt: Format = "table") -> Document:
    """One row per swept value inside the domain: FLOPs, MAC, activations and the family with the most
    FLOPs (a '*' where it changes); the values outside the domain and the changes below."""
    data = result.to_dict()
    changed = {v for v, _, _ in result.changes()}
    columns = [
        Column(result.symbol, result.symbol, "int"),
        Column("FLOPs", "flops", "count"),
        Column("MAC" if result.mac_unit == "elements" else "MAC (bytes)", "mac", "count"),
        Column("activations", "activations", "count"),
        Column("most FLOPs in", "dominant_flops_family"),
    ]
    body = [
        [v, f, m, a, d + (" *" if v in changed and fmt in ("table", "markdown") else "")]
        for v, f, m, a, d in zip(result.values, result.flops, result.mac, result.activations, result.dominant)
    ]
    fixed = ", ".join(f"{k}={v}" for k, v in result.fixed.items())
    heading = [
        f"{result.model} · input {result.inputs} · {result.symbol} swept over {len(result.values) + len(result.outside)} values"
        + (f" · {fixed}" if fixed else "")
        + " · evaluated from the formula (no re-trace)"
    ]
    footer = [f"* the op family doing the most FLOPs changes at {result.symbol}={v}: {a} → {b}" for v, a, b in result.changes()]
    if result.outside:
        first = result.outside[0]
        footer.append(
            f"{len(result.outside)} values outside the domain left out (e.g. {result.symbol}={first[0]}: needs {first[1]})"
        )
    return Document(heading, [Table(columns, body)], footer, data)


def condition_texts(result: Formula) -> list[str]:
    """The domain's conditions as printed."""
    return [expr_text(c.expr) for c in result.domain.conditions]
