"""Write the notebooks and execute them in place, so the committed files carry real outputs.

    python notebooks/make_notebooks.py [NAME.ipynb ...]   # full settings (a few minutes on a CPU)
    COSTMODEL_NOTEBOOK_QUICK=1 python notebooks/make_notebooks.py   # small settings

The tests execute the same notebooks with COSTMODEL_NOTEBOOK_QUICK=1 and fail on any error.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent

SETUP = """\
%matplotlib inline
import os, torch
import costmodel
from costmodel.runtime.measure import cpu_model_name  # /proc/cpuinfo on Linux, platform elsewhere
from IPython.display import Markdown, display

QUICK = os.environ.get("COSTMODEL_NOTEBOOK_QUICK") == "1"  # the test suite runs small settings
THREADS = 1
torch.set_num_threads(THREADS)
print(f"device: CPU {cpu_model_name()} · {THREADS} thread · torch {torch.__version__} · costmodel {costmodel.__version__}"
      f" · {'quick' if QUICK else 'full'} settings")"""

COMPARE_CELLS = [
    (
        "markdown",
        """\
# Comparing architectures: what FLOPs miss

ShuffleNet V2 (Ma et al., ECCV 2018) argues that FLOPs are an indirect measure of speed: memory access
cost (MAC), parallelism and element-wise work matter too. This notebook puts the project's model zoo
side by side, first analytically (no timing), then measured on the machine that runs it, and explains
the ShuffleNet v1 → v2 changes through the paper's four guidelines. Every number comes from the
`costmodel` library's public API; FLOPs are multiply-adds and MAC is tensor elements read + written.""",
    ),
    ("code", SETUP),
    (
        "markdown",
        """\
## The zoo at 224×224, analytically

`costmodel.compare` traces each model with torch.fx on meta tensors (nothing is computed) and sums the
per-layer costs. *1x1 MAC eff.* is the mean, over the 1x1 convolutions, of the paper's proved MAC lower
bound divided by the layer's MAC: 1.0 means every 1x1 conv has equal input and output widths (G1).""",
    ),
    (
        "code",
        """\
names = list(costmodel.ZOO)
rows = costmodel.compare([(n, costmodel.load_model(n)) for n in names])
display(Markdown(rows.table("markdown")))""",
    ),
    (
        "markdown",
        """\
Read the FLOPs column against the MAC column: ShuffleNet v1 with 8 groups has about the FLOPs of
ShuffleNet V2 1.0x but far more memory traffic, and MobileNetV2 moves more data than ResNet-18 while
doing a sixth of its FLOPs. The next cell measures whether latency follows FLOPs or MAC here.""",
    ),
    (
        "code",
        """\
subset = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v1_g3", "shufflenet_v1_g8", "mobilenet_v2"] \\
    if QUICK else names
measured = costmodel.compare([(n, costmodel.load_model(n)) for n in subset], measure=True,
                             threads=THREADS, repeats=3 if QUICK else 20)
display(Markdown(measured.table("markdown")))
fig = costmodel.plot_compare(measured)
fig""",
    ),
    (
        "markdown",
        """\
The left panel is the paper's Fig. 1(c)/(d) argument on this machine: models with about the same FLOPs
land at different latencies. The right panel puts MAC on the x-axis; the Spearman ρ in each title says
how well that cost orders the models' measured latency. The table's *roofline* column is the whole-model
estimate from a device calibration (micro-benchmarks only, never these models): every op priced by its
own kind's calibrated line. The next cell ranks the three against the measurements and says which
ordered them best in this run.""",
    ),
    (
        "code",
        """\
from costmodel.runtime.stats import spearman
lat = [r.measured_ms for r in measured]
costs = {"FLOPs": [r.flops for r in measured], "MAC": [r.mac for r in measured],
         "roofline": [r.predicted_ms["roofline"] for r in measured]}
rho = {key: spearman(values, lat) for key, values in costs.items()}
for key, value in rho.items():
    print(f"{key:9s}: Spearman ρ vs measured {value:+.2f}")
err = sum(abs(p - m) / m for p, m in zip(costs["roofline"], lat)) / len(lat)
best = max(rho, key=rho.get)
print(f"In this run {best} orders the models' latency best; "
      f"{'MAC' if rho['MAC'] > rho['FLOPs'] else 'FLOPs'} ranks them better than "
      f"{'FLOPs' if rho['MAC'] > rho['FLOPs'] else 'MAC'}; the roofline's mean |error| is {err:.0%}.")""",
    ),
    (
        "markdown",
        """\
## ShuffleNet v1 → v2 through the four guidelines

`costmodel.lint` checks a model against the guidelines: **G1** 1x1 convs off their MAC bound,
**G2** grouped 1x1 convs (with the MAC their groups cost, Eq. 2), **G3** fragmented blocks, **G4**
element-wise work. ShuffleNet v1's units use a 4:1 bottleneck around grouped 1x1 convs and end in a
residual add; V2 splits channels, keeps 1x1 convs ungrouped and square, and concatenates instead.""",
    ),
    (
        "code",
        """\
for name in ("shufflenet_v1_g3", "shufflenet_v2_x1_0"):
    result = costmodel.lint(costmodel.load_model(name), name=name)
    display(Markdown(result.table("markdown", per_guideline=2)))""",
    ),
    (
        "markdown",
        """\
v1 collects G1 findings (its 4:1 and 1:4 convs sit about 20% above their MAC bound), G2 findings on
every grouped 1x1 conv, and G4 findings on the blocks whose residual add and ReLUs dominate their
memory traffic. V2 comes out clean: its 1x1 convs sit on the bound, none is grouped, and its units
have no add. Element-wise ops still account for a large share of V2's MAC (BN and ReLU), which is
why G4 matters even for the cleanest design.

## Where the cost sits along the network

Per-layer FLOPs (top) and MAC with its proved lower bound (bottom) for ShuffleNet V2 1.0x. Where the
orange line touches the green dots, a layer moves the minimum data its FLOPs allow.""",
    ),
    (
        "code",
        """\
report = costmodel.analyze(costmodel.load_model("shufflenet_v2_x1_0"), name="shufflenet_v2_x1_0")
costmodel.plot_layers(report)""",
    ),
    (
        "markdown",
        """\
## A roofline of the measured layers

Each dot is one conv, matmul or pooling layer of ShuffleNet V2 1.0x, timed node by node on this machine
and placed against its own calibrated roof: its arithmetic intensity divided by its kind's ridge
(x = 1: compute and memory time balance) against its achieved rate divided by its kind's peak. Red dots
sit right of the ridge (compute-bound by the calibrated rates), blue ones left of it. Most layers reach
a fraction of their roof: at batch 1 a mobile network's time goes largely to fixed per-op costs.
Norms, activations and element-wise ops have only a memory line and are counted in the legend.""",
    ),
    (
        "code",
        """\
result = costmodel.bench(costmodel.load_model("shufflenet_v2_x1_0"), name="shufflenet_v2_x1_0",
                         threads=THREADS, repeats=3 if QUICK else 20)
s = result.summary
print(f"measured {s['model_measured_ms']:.2f} ms · roofline predicted {s['model_predicted_ms']['roofline']:.2f} ms"
      f" · per-layer Spearman ρ: roofline {s['predictors']['roofline']['spearman']:.2f},"
      f" FLOPs {s['predictors']['flops']['spearman']:.2f}")
costmodel.plot_roofline(result)""",
    ),
]

GUIDELINE_CELLS = [
    (
        "markdown",
        """\
# The paper's guideline experiments, re-run here

ShuffleNet V2 derives its four guidelines from controlled experiments (Tables 1–4): small networks of
one repeated block, 56×56 inputs, 10 blocks, FLOPs held fixed within a table. `costmodel` rebuilds
each network, counts its FLOPs, params and MAC, predicts its time from a device calibration, measures
it, and sets the result beside the paper's published speeds (GPU: GTX 1080Ti, batches/s; ARM:
Snapdragon 810, images/s). On a CPU the paper's ARM configuration is run, at batch 1.""",
    ),
    (
        "code",
        SETUP
        + '''
from matplotlib.figure import Figure
WIDTHS = (1,) if QUICK else (1, 2, 4)
REPEATS = 3 if QUICK else 10

def speed_plot(result):
    """Measured speed beside the paper's ARM speed, each normalised to the table's first row."""
    fig = Figure(figsize=(4.5 * len(WIDTHS), 3.9))
    axes = fig.subplots(1, len(WIDTHS), squeeze=False)
    for ax, width in zip(axes[0], WIDTHS):
        rows = [r for r in result.rows if r.width == width]
        labels = [r.label for r in rows]
        ours = [r.speed / rows[0].speed for r in rows]
        theirs = [r.paper_arm / rows[0].paper_arm for r in rows]
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], ours, width=0.4, label="measured here")
        ax.bar([x + 0.2 for x in xs], theirs, width=0.4, label="paper (ARM)")
        ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("speed relative to first row")
        ax.set_title(f"Table {result.number}, width ×{width}")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=2, fontsize=8, frameon=False)  # one legend, above the bars
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig''',
    ),
]
for table, text in (
    (
        1,
        "**G1 — equal channel width minimises MAC.** Each block is a 1x1 conv c1→c2 then c2→c1 with c1·c2 "
        "(and so FLOPs) nearly fixed. Eq. (1) says MAC is smallest at c1 = c2, so speed should fall as the "
        "ratio grows.",
    ),
    (
        2,
        "**G2 — excessive group convolution increases MAC.** Ten 1x1 group convs with g = 1, 2, 4, 8 and the "
        "width raised to keep FLOPs fixed; by Eq. (2) MAC grows with g, so speed should fall.",
    ),
    (
        3,
        "**G3 — fragmentation reduces parallelism.** One 1x1 conv, or 2 or 4 narrower ones in series or in "
        "parallel (our reading of the appendix figure: parallel branches are summed), at equal FLOPs. Small "
        "fragments suit a GPU badly; on a CPU the effect is weaker, as the paper's ARM column shows too.",
    ),
    (
        4,
        "**G4 — element-wise operations are non-negligible.** A ResNet bottleneck with and without its ReLUs "
        "and shortcut: the convs (and FLOPs) are identical, only element-wise work is removed.",
    ),
):
    GUIDELINE_CELLS.append(("markdown", f"## Table {table}\n\n{text}"))
    GUIDELINE_CELLS.append(
        (
            "code",
            f"""\
result = costmodel.run_guideline_table({table}, threads=THREADS, repeats=REPEATS, widths=WIDTHS)
display(Markdown(result.table("markdown")))
speed_plot(result)""",
        )
    )
GUIDELINE_CELLS.append(
    (
        "markdown",
        """\
## Reading the verdicts

Kendall τ compares orderings: +1 means the rows rank exactly as in the paper, 0 means no relation.
The *MAC* τ needs no timing and is the analytical half of each guideline; the *measured* τ says
whether this machine agrees. A CPU at batch 1 is closer to the paper's ARM phone than to its GPU, and
timings on a shared machine are noisy, so single rows can swap while the guideline still holds.""",
    )
)


DESIGN_SPACE_CELLS = [
    (
        "markdown",
        """\
# Sweeping the paper's design space

ShuffleNet V2's guidelines came from sweeping channel ratios, groups, fragmentation and element-wise
work, judged by direct metrics rather than FLOPs. `costmodel.sweep` does this for any builder: every
candidate is built, costed (FLOPs as multiply-adds, MAC in elements), linted against G1–G4 and its
latency predicted by the calibrated roofline of this CPU; the Pareto front marks the candidates that
give the most compute for the least memory traffic or time. Here the builder is the zoo's ShuffleNet V2
with the paper's knobs: the width multiplier, the split ratio (the share of channels a unit convolves;
the paper's c' = c/2 is 0.5) and the units per stage (4, 8, 4 in the paper).""",
    ),
    ("code", SETUP),
    (
        "code",
        """\
if QUICK:
    grid = ["width=0.5,1.0,1.5,2.0", "split=0.25,0.5,0.75", "depth=[4,8,4],[2,4,2]"]
else:
    grid = ["width=0.5,0.75,1.0,1.25,1.5,1.75,2.0", "split=0.25,0.375,0.5,0.625,0.75",
            "depth=[4,8,4],[2,4,2],[3,6,3],[2,8,2],[4,4,4],[6,12,6]"]
result = costmodel.sweep("shufflenet_v2", grid, (1, 3, 224, 224), objectives=("max:flops", "mac", "latency"),
                         predict=True, threads=THREADS, workers=os.cpu_count())
print(repr(result))
display(Markdown(result.table("markdown")))""",
    ),
    (
        "markdown",
        """\
## Where the published networks sit

The paper's four networks (0.5×, 1×, 1.5×, 2×) use split 0.5 and 4/8/4 units. Stars mark them against
every candidate (grey) and the front (red). A star on the red line is Pareto-optimal in this space; a
star above it is beaten by some candidate with at least its FLOPs and less MAC (left) or less
predicted time (right).""",
    ),
    (
        "code",
        """\
from costmodel.render.sweep_plot import plot_front

published = {f"{w}x": {"width": w, "split": 0.5, "depth": [4, 8, 4]} for w in (0.5, 1.0, 1.5, 2.0)}
plot_front(result, marked=published)""",
    ),
    (
        "code",
        """\
def beaten_by(row, rows, objective):
    \"\"\"Candidates with at least this row's FLOPs and strictly less of the objective (MAC or predicted ms).\"\"\"
    value = lambda r: r.mac if objective == "mac" else r.predicted_ms
    return [r for r in rows if r.ok and r.flops >= row.flops and value(r) < value(row)]

lines = ["| network | FLOPs | MAC | pred. ms | on the front | beaten on MAC by | beaten on time by |",
         "|---|---|---|---|---|---|---|"]
for label, knobs in published.items():
    row = next(r for r in result if r.values["width"] == knobs["width"] and r.values["split"] == 0.5
               and r.values["depth"] == [4, 8, 4])
    beaten = [len(beaten_by(row, result, objective)) for objective in ("mac", "latency")]
    lines.append(f"| {label} | {row.flops / 1e6:.0f}M | {row.mac / 1e6:.1f}M | {row.predicted_ms:.2f} | "
                 f"{'yes' if row.front else 'no'} | {beaten[0]} | {beaten[1]} |")
display(Markdown("\\n".join(lines)))""",
    ),
    (
        "markdown",
        """\
Reading it: at a fixed width, a larger split ratio convolves more channels — more FLOPs for
proportionally less extra MAC — so candidates with split above 0.5 often reach a given FLOPs count with
less memory traffic than the published split. The paper chose 0.5 for accuracy and for G1 (equal
widths on the two branches); this sweep measures cost only and says nothing about accuracy. The
predicted times come from micro-benchmarks of this machine, never from the models themselves.""",
    ),
]


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src) for kind, src in cells
    ]
    return nb


def write_and_run(name: str, cells: list[tuple[str, str]], timeout: int = 1200) -> Path:
    """Write ``name`` from ``cells`` and execute it in place (outputs saved)."""
    nb = build(cells)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    path = HERE / name
    nbformat.write(nb, path)
    return path


NOTEBOOKS = {
    "compare_architectures.ipynb": COMPARE_CELLS,
    "guidelines.ipynb": GUIDELINE_CELLS,
    "design_space.ipynb": DESIGN_SPACE_CELLS,
}

if __name__ == "__main__":
    import sys

    for notebook in sys.argv[1:] or list(NOTEBOOKS):
        print("wrote", write_and_run(notebook, NOTEBOOKS[notebook]))
