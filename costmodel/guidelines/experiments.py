"""The ShuffleNet V2 paper's guideline experiments (Tables 1–4), rebuilt and re-run on this device.

Every benchmark network takes a 56×56 input and stacks its block 10 times, with FLOPs held (nearly)
equal within a table by the paper's channel choices:
- Table 1 (G1): block = 1x1 conv c1→c2 then c2→c1, ratios 1:1, 1:2, 1:6, 1:12;
- Table 2 (G2): block = one 1x1 group conv c→c with g = 1, 2, 4, 8;
- Table 3 (G3): block = k 1x1 convs of width c/√k, in series or in parallel (branches summed);
- Table 4 (G4): block = ResNet bottleneck (1x1 c→c/4, 3x3, 1x1 c/4→c) with or without ReLU and shortcut.
Widths ×1, ×2, ×4 multiply the channels. The paper's speeds are shipped data (``costmodel.data``).
On a CPU the paper's ARM configuration is run (batch 1, images/s); on CUDA its GPU one (batch 8,
batches/s). Our reading of the appendix figure for Table 3 (parallel branches merged by addition)
is stated in the docstring of ``FragmentBlock``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from costmodel.analyze import analyze
from costmodel.guidelines import paper_tables as paper
from costmodel.report import Printable, Report
from costmodel.runtime.settings import RunSettings, settings_of

WIDTHS = (1, 2, 4)
SIZE = 56
REPEAT_BLOCKS = 10

GUIDELINES = {
    1: "G1: equal channel width minimises memory access cost",
    2: "G2: excessive group convolution increases MAC",
    3: "G3: network fragmentation reduces the degree of parallelism",
    4: "G4: element-wise operations are non-negligible",
}


class PointwisePair(nn.Module):
    """Table 1 block: 1x1 conv c1→c2, then c2→c1 (no bias)."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c1, c2, 1, bias=False)
        self.conv2 = nn.Conv2d(c2, c1, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))


class FragmentBlock(nn.Module):
    """Table 3 block: ``k`` 1x1 convs c→c, chained (series) or all fed the block input and summed
    (parallel) — our reading of the paper's appendix figure; FLOPs are equal either way."""

    def __init__(self, c: int, k: int, parallel: bool) -> None:
        super().__init__()
        self.parallel = parallel
        self.convs = nn.ModuleList(nn.Conv2d(c, c, 1, bias=False) for _ in range(k))

    def forward(self, x: Tensor) -> Tensor:
        if self.parallel:
            out = self.convs[0](x)
            for conv in self.convs[1:]:
                out = out + conv(x)
            return out
        for conv in self.convs:
            x = conv(x)
        return x


class BottleneckBlock(nn.Module):
    """Table 4 block: ResNet bottleneck 1x1 c→c/4, 3x3 c/4→c/4, 1x1 c/4→c, optional ReLUs and shortcut."""

    def __init__(self, c: int, relu: bool, shortcut: bool) -> None:
        super().__init__()
        mid = c // 4
        self.conv1 = nn.Conv2d(c, mid, 1, bias=False)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.conv3 = nn.Conv2d(mid, c, 1, bias=False)
        self.relu = relu
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        if self.relu:
            out = torch.relu(out)
        out = self.conv2(out)
        if self.relu:
            out = torch.relu(out)
        out = self.conv3(out)
        if self.shortcut:
            out = out + x
        if self.relu:
            out = torch.relu(out)
        return out


def _divisible(c: int, g: int, c_dense: int) -> int:
    """``c`` if g divides it, else the multiple of g next to it whose FLOPs (c²/g) are closest to the
    g = 1 row's (c_dense²): the paper's ARM row for g = 8 lists c = 180, which 8 does not divide."""
    if c % g == 0:
        return c
    low, high = (c // g) * g, (c // g + 1) * g
    return min((low, high), key=lambda x: abs(x * x / g - c_dense * c_dense))


def _stack(block: type[nn.Module], *args: Any) -> nn.Sequential:
    return nn.Sequential(*(block(*args) for _ in range(REPEAT_BLOCKS)))


@dataclass
class ExperimentRow:
    """One network of one table: what it is, how to build it, and the paper's speeds for it."""

    table: int
    label: str
    width: int
    channels: str
    input_channels: int
    build: Any  # zero-argument callable returning the nn.Module
    paper_gpu: float
    paper_arm: float
    report: Report | None = None
    predicted_ms: float | None = None
    measured_ms: float | None = None
    speed: float | None = None  # images/s (CPU, batch 1) or batches/s (CUDA, batch 8)


def _platform_key(device: str) -> str:
    return "gpu" if device.startswith("cuda") else "arm"


def table_rows(table: int, device: str = "cpu") -> list[ExperimentRow]:
    """The benchmark networks of one table in the configuration of this device's platform."""
    key = _platform_key(device)
    rows: list[ExperimentRow] = []
    for w_index, width in enumerate(WIDTHS):
        if table == 1:
            for ratio, entry in paper.TABLE1.items():
                c1, c2 = (c * width for c in entry[f"{key}_channels"])  # type: ignore[attr-defined]
                rows.append(
                    ExperimentRow(
                        1,
                        ratio,
                        width,
                        f"({c1},{c2})",
                        c1,
                        lambda c1=c1, c2=c2: _stack(PointwisePair, c1, c2),
                        entry["gpu"][w_index],
                        entry["arm"][w_index],
                    )
                )  # type: ignore[index]
        elif table == 2:
            c_dense = int(paper.TABLE2[1][f"{key}_channels"]) * width  # type: ignore[call-overload]
            for g, entry in paper.TABLE2.items():
                c = _divisible(int(entry[f"{key}_channels"]) * width, g, c_dense)  # type: ignore[call-overload]
                rows.append(
                    ExperimentRow(
                        2,
                        f"g={g}",
                        width,
                        f"c={c}",
                        c,
                        lambda c=c, g=g: nn.Sequential(*(nn.Conv2d(c, c, 1, groups=g, bias=False) for _ in range(REPEAT_BLOCKS))),
                        entry["gpu"][w_index],
                        entry["arm"][w_index],
                    )
                )  # type: ignore[index]
        elif table == 3:
            base = (paper.TABLE3_GPU_CHANNELS if key == "gpu" else paper.TABLE3_ARM_CHANNELS)[w_index]
            for label, entry in paper.TABLE3.items():
                k = int(label[0])
                c = round(base / math.sqrt(k))
                parallel = label.endswith("parallel")
                rows.append(
                    ExperimentRow(
                        3,
                        label,
                        width,
                        f"c={base}" + (f" ({k}×{c})" if k > 1 else ""),
                        c,
                        lambda c=c, k=k, p=parallel: _stack(FragmentBlock, c, k, p),
                        entry["gpu"][w_index],
                        entry["arm"][w_index],
                    )
                )
        elif table == 4:
            c = paper.TABLE4_CHANNELS[w_index]
            for (relu, shortcut), entry in paper.TABLE4.items():
                label = f"ReLU {'yes' if relu else 'no'}, shortcut {'yes' if shortcut else 'no'}"
                rows.append(
                    ExperimentRow(
                        4,
                        label,
                        width,
                        f"c={c}",
                        c,
                        lambda c=c, r=relu, s=shortcut: _stack(BottleneckBlock, c, r, s),
                        entry["gpu"][w_index],
                        entry["arm"][w_index],
                    )
                )
        else:
            raise ValueError(f"table must be 1, 2, 3 or 4, got {table}")
    return rows


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b between two sequences (ties handled); NaN if either is constant."""
    n = len(x)
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom if denom else float("nan")


@dataclass(repr=False)
class TableResult(Printable):
    """One table re-run: its rows, per-width agreement with the paper, and the verdict."""

    number: int  # the paper's table number (1–4)
    guideline: str
    platform: str
    rows: list[ExperimentRow]
    flops_spread: dict[int, float] = field(default_factory=dict)  # width → max/min conv FLOPs − 1
    tau_mac: dict[int, float] = field(default_factory=dict)  # width → τ(−MAC, paper speed)
    tau_measured: dict[int, float] = field(default_factory=dict)  # width → τ(measured speed, paper speed)
    verdict: str = ""

    def __repr__(self) -> str:
        return f"<TableResult {self.number} ({self.guideline}): {len(self.rows)} rows · {self.verdict}>"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: table, guideline, rows with all figures, τ per width, verdict."""
        return {
            "table": self.number,
            "guideline": self.guideline,
            "paper_platform": self.platform,
            "source": paper.SOURCE,
            "rows": [
                {
                    "label": r.label,
                    "width": r.width,
                    "channels": r.channels,
                    "flops": r.report.flops_of("conv", "linear") if r.report else None,
                    "flops_all_ops": r.report.totals["flops"] if r.report else None,
                    "params": r.report.totals["params"] if r.report else None,
                    "mac": r.report.totals["mac"] if r.report else None,
                    "predicted_ms": r.predicted_ms,
                    "measured_ms": r.measured_ms,
                    "speed": r.speed,
                    "paper_gpu_batches_per_s": r.paper_gpu,
                    "paper_arm_images_per_s": r.paper_arm,
                }
                for r in self.rows
            ],
            "flops_spread": self.flops_spread,
            "kendall_tau_mac_vs_paper": self.tau_mac,
            "kendall_tau_measured_vs_paper": self.tau_measured,
            "verdict": self.verdict,
        }


def run_table(
    table: int,
    *,
    measure: bool = True,
    predict: bool = True,
    widths: Sequence[int] = WIDTHS,
    settings: RunSettings | None = None,
    **changes: Any,
) -> TableResult:
    """Build, analyse and (with ``measure``) time every network of one table; compare with the paper.

    Speeds: CPU at batch 1 in images/s (against the paper's ARM column); CUDA at batch 8 in batches/s
    (against its GPU column). Predicted times are the calibrated roofline's whole-model estimate.
    Measured with ``settings`` (or its fields as keywords; 10 repeats unless given).
    """
    s = settings_of(settings, changes, repeats=10)
    device = s.device
    from costmodel.runtime.calibrate import calibrate
    from costmodel.runtime.measure import time_model
    from costmodel.runtime.predict import predict as predict_rows

    key = _platform_key(device)
    batch = 8 if key == "gpu" else 1
    rows = [r for r in table_rows(table, device) if r.width in widths]
    cal = None
    if predict:  # timing alone needs no calibration
        cal, source = calibrate(device, s.threads)
        if source.note:
            warnings.warn(source.note, stacklevel=2)
    for row in rows:
        model = row.build().eval()
        shape = (batch, row.input_channels, SIZE, SIZE)
        row.report = analyze(model, shape, name=f"table{table}:{row.label}")
        if cal is not None and predict:
            row.predicted_ms = 1e3 * sum(p.roofline_eager_s for p in predict_rows(row.report, cal))
        if measure:
            timing = time_model(model.to(device), shape, device=device, threads=s.threads, repeats=s.repeats)
            row.measured_ms = timing.median_ms
            row.speed = (batch if key == "arm" else 1) / (timing.median_ms / 1e3)
    result = TableResult(
        table, GUIDELINES[table], "GPU (batches/s, batch 8)" if key == "gpu" else "ARM (images/s, batch 1)", rows
    )
    for width in widths:
        group = [r for r in rows if r.width == width]
        # the paper holds conv FLOPs fixed (element-wise ops are "free" in its count, which G4 disputes)
        flops = [r.report.flops_of("conv", "linear") for r in group if r.report]
        result.flops_spread[width] = max(flops) / min(flops) - 1
        paper_speed = [r.paper_gpu if key == "gpu" else r.paper_arm for r in group]
        result.tau_mac[width] = kendall_tau([-r.report.totals["mac"] for r in group if r.report], paper_speed)
        if measure:
            result.tau_measured[width] = kendall_tau([r.speed or 0.0 for r in group], paper_speed)
    result.verdict = verdict_of(result, measure)
    return result


def run_tables(
    tables: Sequence[int] = (1, 2, 3, 4),
    *,
    measure: bool = True,
    widths: Sequence[int] = WIDTHS,
    settings: RunSettings | None = None,
    **changes: Any,
) -> GuidelineTables:
    """``run_table`` for each of ``tables`` (predicting whenever measuring); ``settings.progress`` is
    called with 1 after each table."""
    s = settings_of(settings, changes, repeats=10)
    results = []
    for number in tables:
        results.append(run_table(number, measure=measure, predict=measure, widths=widths, settings=s.but(progress=None)))
        if s.progress is not None:
            s.progress(1)
    return GuidelineTables(results)


@dataclass(repr=False)
class GuidelineTables(Printable):
    """The paper's tables re-run (``costmodel guidelines``): iterable like the list of TableResults."""

    results: list[TableResult]

    def __iter__(self) -> Iterator[TableResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        return f"<GuidelineTables {', '.join(str(r.number) for r in self.results)}>"

    def to_dict(self) -> list[dict[str, Any]]:
        """One JSON object per table (``TableResult.to_dict``)."""
        return [r.to_dict() for r in self.results]


def verdict_of(result: TableResult, measured: bool) -> str:
    if not measured:
        mean_mac = sum(result.tau_mac.values()) / len(result.tau_mac)
        return f"{result.guideline}: MAC ordering vs the paper's speeds, mean Kendall τ = {mean_mac:+.2f} (not measured)"
    taus = [t for t in result.tau_measured.values() if not math.isnan(t)]
    mean = sum(taus) / len(taus) if taus else float("nan")
    holds = mean > HOLDS_ABOVE_TAU
    return (
        f"{result.guideline}: {'holds' if holds else 'does not clearly hold'} on this device "
        f"(measured vs paper ordering, mean Kendall τ = {mean:+.2f} over widths {list(result.tau_measured)}; "
        f"rule: holds when τ > {HOLDS_ABOVE_TAU})"
    )


#: The verdict's rule: a guideline holds on this device when the mean Kendall τ between the measured
#: speed ordering and the paper's, over the table's widths, exceeds this.
HOLDS_ABOVE_TAU = 0.3
