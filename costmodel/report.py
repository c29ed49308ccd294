"""The analysis result: per-layer rows, totals, uncounted ops, and grouping/sorting views of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

GroupBy = Literal["layer", "module", "op"]
CONTRACTION_FAMILIES = ("conv", "linear", "matmul", "attention", "rnn")
SortKey = Literal["flops", "mac", "params"]


def module_prefix(module: str | None, depth: int) -> str:
    """The first ``depth`` parts of a module's qualified name ("stage2.0.branch2.5", 2 → "stage2.0");
    ops at the model's root go under "(root)"."""
    return ".".join(module.split(".")[:depth]) if module else "(root)"


#: How each result type prints, registered by the renderers (a stage above the results): type → printer
#: taking (result, fmt, **options). ``import costmodel`` registers them all.
PRINTERS: dict[type, Callable[..., str]] = {}


def register_printer(kind: type, printer: Callable[..., str]) -> None:
    """Make ``printer(result, fmt, **options)`` the way results of type ``kind`` print."""
    PRINTERS[kind] = printer


class Printable:
    """A result that prints as the CLI prints it: ``str()`` is the table, ``table(fmt, **options)`` any
    format (table, markdown, csv, json) with the command's options, ``_repr_html_`` the table in Jupyter."""

    def table(self, fmt: str = "table", **options: Any) -> str:
        """This result in ``fmt`` (options as the command takes them, e.g. ``depth=2``, ``exact=True``)."""
        for kind in type(self).__mro__:
            if kind in PRINTERS:
                return PRINTERS[kind](self, fmt, **options)
        raise TypeError(f"no printer for {type(self).__name__}: import costmodel to register the renderers")

    def __str__(self) -> str:
        return self.table()

    def to_dataframe(self, **options: Any) -> Any:
        """The rows as a pandas DataFrame: exactly the CSV's columns (units in their names) and values,
        for the same ``options``. pandas is optional: a one-line error says to install it."""
        import io

        try:
            import pandas
        except ImportError:
            from costmodel.errors import CostModelError

            raise CostModelError("to_dataframe needs pandas: pip install pandas") from None
        return pandas.read_csv(io.StringIO(self.table("csv", **options)), keep_default_na=False, na_values=[""])

    def _repr_html_(self) -> str:
        """Jupyter's view: the printed table in a <pre> block, escaped."""
        import html

        return f"<pre>{html.escape(self.table())}</pre>"


@dataclass(frozen=True)
class LayerCost:
    """One fx call node's costs (in the fallback walk, one layer call's or one aten op's). ``module`` is the owning
    module's qualified name (None at the root)."""

    name: str
    op: str
    family: str
    module: str | None
    input_shapes: list[list[int]]
    output_shape: list[int]
    flops: int
    params: int
    mac: int
    mac_lower_bound: float | None
    mac_efficiency: float | None
    kind: str | None = None  # internal: the rule's finer kind ("depthwise", "pointwise", …)
    reason: str | None = None  # why a zero-cost row is free (view, identity at inference, assert…)
    mac_unfused: int | None = None  # attention: MAC of the unfused math path (the L×S scores)
    aten: list[dict[str, Any]] = field(default_factory=list)  # the aten ops the row ran, with their costs
    work: tuple[Any, ...] = ()  # internal: each dispatched op's kind and work (costing.OpWork), for timing
    module_call: bool = False  # internal: the row is a call of an nn.Module (its __call__ costs time too)
    node: str = ""  # internal: the fx node (or aten op) the row costs, the key its timings join on

    @property
    def is_elementwise(self) -> bool:
        """Element-wise tensor work (G4): activations, element-wise arithmetic and norms that move data;
        not concatenation, not integer arithmetic on sizes."""
        return self.family in ("activation", "elementwise", "norm") and self.op not in ("cat", "concat", "stack") and self.mac > 0

    @property
    def is_pointwise_conv(self) -> bool:
        """A 1x1 convolution, grouped or not."""
        return self.kind in ("pointwise", "grouped_pointwise")

    def to_dict(self) -> dict[str, Any]:
        """The JSON row (schema in README): every field but the internal ``family`` and ``kind``."""
        row = asdict(self)
        del row["family"], row["kind"], row["work"], row["module_call"], row["node"]
        return row


@dataclass(frozen=True)
class UncountedOp:
    """An op no rule knows: listed by the row it sits in and its aten name, never silently costed as zero."""

    name: str
    op: str


@dataclass(frozen=True)
class GroupRow:
    """Costs summed over a group of layers (by module prefix or by op)."""

    name: str
    count: int
    flops: int
    params: int
    mac: int
    level: int = 0  # depth in the module tree (0: the whole model); 0 for op groups


def _summed(name: str, rows: list[LayerCost], level: int = 0) -> GroupRow:
    """One group's sums; its layer count counts costed rows only."""
    costed = [r for r in rows if r.flops or r.mac or r.params]
    flops, params, mac = (sum(getattr(r, k) for r in rows) for k in ("flops", "params", "mac"))
    return GroupRow(name, len(costed), flops, params, mac, level)


FLOPS_UNITS = ("multiply-adds", "flops")
#: FLOPs figures per multiply-add in each unit.
FLOPS_PER_UNIT = {"multiply-adds": 1, "flops": 2}


def check_flops_unit(unit: str) -> None:
    """Reject a FLOPs unit other than 'multiply-adds' or 'flops' with a one-line error."""
    if unit not in FLOPS_UNITS:
        from costmodel.errors import CostModelError

        raise CostModelError(f"flops_unit must be 'multiply-adds' or 'flops', not {unit!r}")


def flops_phrase(unit: str) -> str:
    """How a FLOPs figure counts, for headers: 'FLOPs = multiply-adds' or 'FLOPs = 2 × multiply-adds'."""
    return "FLOPs = multiply-adds" if unit == "multiply-adds" else "FLOPs = 2 × multiply-adds (flop_counter's count)"


def conventions(flops_unit: str, mac_unit: str) -> dict[str, str]:
    """The JSON ``conventions`` block: what each figure counts."""
    return {
        "flops": flops_unit,
        "flops_definition": "one multiply-add = 1" if flops_unit == "multiply-adds" else "one multiply-add = 2",
        "mac": mac_unit,
        "mac_definition": f"memory access cost: {mac_unit} read + written",
    }


@dataclass(repr=False)
class Report(Printable):
    """Per-layer costs of one model at one input shape, by docs/CONVENTIONS.md."""

    model: str
    input_shape: list[int]
    dtype: str
    layers: list[LayerCost]
    uncounted: list[UncountedOp]
    model_params: int
    mac_unit: str = "elements"
    notes: list[str] = field(default_factory=list)
    inputs: str = ""  # every input as '1x3x224x224' or 'x=1x77:int64, mask=…'
    walk: str = "fx"  # "fx" (the traced graph's nodes) or "aten" (the fallback walk: layer calls and other code's ops)
    flops_unit: str = "multiply-adds"  # or "flops": 2 × multiply-adds, torch.utils.flop_counter's count
    memory: Any = None  # a costmodel.memory MemoryReport of the inference forward, when asked for

    @property
    def complete(self) -> bool:
        """True when every op was costed (no uncounted op): the totals are the whole model's."""
        return not self.uncounted

    def __repr__(self) -> str:
        """One line: model, inputs, totals, and whether they are complete."""
        totals = self.totals
        state = "complete" if self.complete else f"{len(self.uncounted)} uncounted op(s)"
        return (
            f"<Report {self.model} · {self.inputs or 'x'.join(map(str, self.input_shape))} · {self.dtype} · "
            f"{len(self.layers)} rows · FLOPs {totals['flops']:,} ({self.flops_unit}) · params {totals['params']:,} · "
            f"MAC {totals['mac']:,} {self.mac_unit} · {state}>"
        )

    @property
    def contraction_flops(self) -> int:
        """FLOPs of the contractions (conv, linear, matmul, attention, recurrent): the figure papers
        quote, and what ``torch.utils.flop_counter`` counts (×2)."""
        total = 0
        for row in self.layers:
            if row.aten:  # a row of several ops (a leaf block): count its contraction ops only
                total += sum(op["flops"] or 0 for op in row.aten if op.get("family") in CONTRACTION_FAMILIES)
            elif row.family in CONTRACTION_FAMILIES:
                total += row.flops
        return total

    @property
    def totals(self) -> dict[str, int]:
        """Sums over the counted layers; ``params`` is the model's own count (shared tensors once)."""
        return {
            "flops": sum(r.flops for r in self.layers),
            "params": self.model_params,
            "mac": sum(r.mac for r in self.layers),
        }

    @property
    def elementwise_mac(self) -> int:
        """MAC of the element-wise ops (see ``LayerCost.is_elementwise``)."""
        return sum(r.mac for r in self.layers if r.is_elementwise)

    @property
    def mean_pointwise_efficiency(self) -> float | None:
        """Mean MAC efficiency of the 1x1 convs (None without any)."""
        effs = [r.mac_efficiency for r in self.layers if r.is_pointwise_conv and r.mac_efficiency is not None]
        return sum(effs) / len(effs) if effs else None

    def flops_of(self, *families: str) -> int:
        """FLOPs summed over the layers of the given op families (e.g. "conv", "linear")."""
        return sum(r.flops for r in self.layers if r.family in families)

    def to_dict(self) -> dict[str, Any]:
        """Exactly the JSON that ``costmodel report --format json`` prints."""
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "inputs": self.inputs,
            "dtype": self.dtype,
            "walk": self.walk,
            "complete": self.complete,
            "conventions": conventions(self.flops_unit, self.mac_unit),
            "layers": [r.to_dict() for r in self.layers],
            "totals": {**self.totals, "contraction_flops": self.contraction_flops},
            "uncounted": [asdict(u) for u in self.uncounted],
            "notes": list(self.notes),
            **({"memory": self.memory.to_dict()} if self.memory is not None else {}),
        }

    def in_flops_unit(self, unit: str) -> Report:
        """This report with every FLOPs figure in ``unit``: "multiply-adds" (one fused multiply-add = 1,
        the paper's and fvcore's count) or "flops" (= 2 × multiply-adds, torch.utils.flop_counter's)."""
        check_flops_unit(unit)
        factor = FLOPS_PER_UNIT[unit] / FLOPS_PER_UNIT[self.flops_unit]
        if factor == 1:
            return self

        def scaled(row: LayerCost) -> LayerCost:
            aten = [{**op, "flops": None if op.get("flops") is None else int(op["flops"] * factor)} for op in row.aten]
            return replace(row, flops=int(row.flops * factor), aten=aten)

        return replace(self, layers=[scaled(r) for r in self.layers], flops_unit=unit)

    def sorted_layers(self, key: SortKey | None = None, top: int | None = None) -> list[LayerCost]:
        """Layers in graph order, or by ``key`` descending; the first ``top`` of them if given."""
        rows = list(self.layers)
        if key is not None:
            rows.sort(key=lambda r: getattr(r, key), reverse=True)
        return rows[:top] if top is not None else rows

    def grouped(self, by: GroupBy, depth: int = 2, sort: SortKey | None = None, show_free: bool = True) -> list[GroupRow]:
        """Sum the layers by op type, by layer, or (``by="module"``) as a module tree: the whole model
        (level 0), then each module down to ``depth`` levels under its parent, with subtotals (a
        parent's figures are the sums of its children's plus its own direct ops). ``count`` counts
        costed rows only (shape-only nodes — views, size queries — are not layers). ``sort`` orders
        siblings (or op groups), largest first; graph order otherwise."""
        if by == "module":
            return self._module_tree(depth, sort, show_free)
        groups: dict[str, list[LayerCost]] = {}
        for row in self.layers:
            groups.setdefault(row.op if by == "op" else row.name, []).append(row)
        out = [_summed(key, rows) for key, rows in groups.items()]
        if sort is not None:
            out.sort(key=lambda g: getattr(g, sort), reverse=True)
        return out

    def _module_tree(self, depth: int, sort: SortKey | None, show_free: bool = True) -> list[GroupRow]:
        children: dict[str, list[str]] = {"": []}
        members: dict[str, list[LayerCost]] = {"": []}
        own: dict[str, list[LayerCost]] = {"": []}  # a module's own ops: functions in its forward
        first: dict[str, int] = {}  # where each group and row first runs: siblings keep graph order
        for index, row in enumerate(self.layers):
            first.setdefault(row.name, index)
            parts = row.module.split(".") if row.module else []
            members[""].append(row)
            for level in range(1, min(depth, len(parts)) + 1):
                path, parent = ".".join(parts[:level]), ".".join(parts[: level - 1])
                if path not in members:
                    members[path], children[path], own[path] = [], [], []
                    children[parent].append(path)
                    first.setdefault(path, index)
                members[path].append(row)
            if len(parts) < depth and not row.module_call:
                own[".".join(parts)].append(row)
        out: list[GroupRow] = []

        def visit(path: str, level: int) -> None:
            out.append(_summed(path or "(model)", members[path], level))
            kids = [_summed(k, members[k], level + 1) for k in children[path]]
            kids += [_summed(r.name, [r], level + 1) for r in own[path] if path != r.module or children[path] or not path]
            if not show_free:
                kids = [k for k in kids if k.flops or k.mac or k.params]
            kids.sort(key=lambda g: first.get(g.name, 0))
            if sort is not None:
                kids.sort(key=lambda g: getattr(g, sort), reverse=True)
            for kid in kids:
                if kid.name in children:
                    visit(kid.name, level + 1)
                else:
                    out.append(kid)

        visit("", 0)
        return out
