"""The tables of a memory report: the live-bytes timeline (one row per run of a module call's ops in one
phase) and, for a training step, each module call's forward and backward cost."""

from __future__ import annotations

from costmodel.memory.result import MemoryReport
from costmodel.render.table import Column, Document, Format, Table
from costmodel.units import human, human_bytes

_RESIDENT_ORDER = ("parameters", "buffers", "inputs", "optimizer state", "other")


def _heading(report: MemoryReport) -> list[str]:
    step = "inference (eval, no_grad)" if report.mode == "inference" else f"training step ({report.optimizer or 'no optimizer'})"
    resident = " + ".join(f"{k} {human_bytes(report.resident[k])}" for k in _RESIDENT_ORDER if report.resident.get(k))
    lines = [
        f"{report.model} · input {report.inputs} · {report.dtype} · {report.device} · {step}",
        f"peak {human_bytes(report.peak)} ({report.peak:,} B) in {report.peak_row} ({report.peak_phase}, {report.peak_op})",
        f"resident {human_bytes(report.resident_bytes)}: {resident or 'nothing'}",
    ]
    if report.mode == "train":
        lines.append(
            f"gradients {human_bytes(report.gradients)} · trainable params {report.trainable_params:,}"
            + (f" · frozen {report.frozen_params:,}" if report.frozen_params else "")
        )
    return lines


def _phase_footer(report: MemoryReport) -> list[str]:
    parts = [f"{p} {human(v['flops'])} FLOPs / {human(v['mac'])} MAC" for p, v in report.phases.items() if v["flops"] or v["mac"]]
    lines = ["cost by phase: " + " · ".join(parts)] if parts else []
    lines.append(
        "bytes: live tensor storages (views and in-place results share their base's) · FLOPs = multiply-adds · MAC = elements"
    )
    if report.uncounted:
        names = sorted({f"{u.op}" for u in report.uncounted})
        lines.append(
            f"{len(report.uncounted)} uncounted op(s), their FLOPs and MAC are missing from the totals: {', '.join(names)}"
        )
    return lines + list(report.notes)


def memory_document(report: MemoryReport, fmt: Format = "table", *, show_all: bool = False, layers: bool = False) -> Document:
    """The timeline: row, op (module class or phase), phase, bytes allocated, the peak while it runs,
    live bytes after it, FLOPs and MAC; the peak row is marked. Tables hide rows that allocate nothing
    and are not the peak unless ``show_all``; CSV and JSON have every row. ``layers``: the training
    cost per module call instead (``training_document``)."""
    if layers:
        return training_document(report, fmt, show_all=show_all)
    columns = [
        Column("#", "index", "int"),
        Column("row", "name"),
        Column("op", "op"),
        Column("phase", "phase"),
        Column("allocated", "allocated_bytes", "bytes"),
        Column("peak during", "peak_bytes", "bytes"),
        Column("live after", "live_after_bytes", "bytes"),
        Column("FLOPs", "flops_multiply_adds", "count"),
        Column("MAC", "mac_elements", "count"),
        Column("", "is_peak", shown="table"),
    ]
    top = max(range(len(report.timeline)), key=lambda i: report.timeline[i].peak, default=-1)
    body = []
    hidden = 0
    for i, row in enumerate(report.timeline):
        if fmt not in ("csv", "json") and not show_all and not row.allocated and i != top:
            hidden += 1
            continue
        body.append(
            [i, row.name, row.op, row.phase, row.allocated, row.peak, row.live_after, row.flops, row.mac, i == top or None]
        )
    for line in body:
        line[-1] = "◀ peak" if line[-1] else None
    footer = _phase_footer(report)
    if hidden:
        footer.insert(0, f"{hidden} rows that allocate nothing not shown (--all shows them)")
    return Document(_heading(report), [Table(columns, body)], footer, report.to_dict())


def training_document(report: MemoryReport, fmt: Format = "table", *, show_all: bool = False) -> Document:
    """Per module call of a training step: forward and backward FLOPs and MAC, and the bytes of its
    outputs autograd still holds when the backward starts; then the step's totals and peak."""
    columns = [
        Column("layer", "name"),
        Column("op", "op"),
        Column("fwd FLOPs", "forward_flops_multiply_adds", "count"),
        Column("fwd MAC", "forward_mac_elements", "count"),
        Column("bwd FLOPs", "backward_flops_multiply_adds", "count"),
        Column("bwd MAC", "backward_mac_elements", "count"),
        Column("saved", "saved_bytes", "bytes"),
    ]
    body = [
        [r.name, r.op, r.forward_flops, r.forward_mac, r.backward_flops, r.backward_mac, r.saved_bytes]
        for r in report.layers
        if show_all
        or fmt in ("csv", "json")
        or r.forward_flops
        or r.forward_mac
        or r.backward_flops
        or r.backward_mac
        or r.saved_bytes
    ]
    forward = report.total("flops", ("forward", "loss"))
    backward = report.total("flops", ("backward",))
    ratio = f" (backward/forward {backward / forward:.2f})" if forward else ""
    mac = {p: human(report.total("mac", p)) for p in (("forward", "loss"), ("backward",), ("optimizer",))}
    footer = [
        f"forward {human(forward)} FLOPs, {mac[('forward', 'loss')]} MAC · backward {human(backward)} FLOPs, "
        f"{mac[('backward',)]} MAC{ratio} · optimizer {human(report.total('flops', ('optimizer',)))} FLOPs, "
        f"{mac[('optimizer',)]} MAC",
        *_phase_footer(report)[1:],
    ]
    return Document(_heading(report), [Table(columns, body)], footer, report.to_dict())
