"""Mutation testing of the core modules: does the test suite notice when the code is wrong?

Each mutant changes one operator or constant in one module (AST level: + ↔ −, × ↔ ÷, // → /, ** → ×,
< ↔ ≤, > ↔ ≥, == ↔ !=, in ↔ not in, is ↔ is not, and ↔ or, `not x` → x, True ↔ False, an integer
n → n + 1, a `min` ↔ `max` call). Docstrings, other strings, annotations and logging are left alone.
Mutants are drawn with a fixed seed, written into a scratch copy of the repository (the working tree is
never touched) and judged by that module's tests, found from its path (``tests_for``; ``-x``, slow tests
deselected): a mutant is *killed* when a test fails, errors or times out, and *survives* otherwise.
Survivors are printed with their diff line so that each can be judged equivalent (no behaviour change)
or a gap in the suite.

    python tools/mutation.py                      # every core module, 25 mutants each
    python tools/mutation.py --per-module 80 --modules costmodel/proofs/claims.py --workers 2
    python tools/mutation.py --json mutation.json # also write every mutant's outcome
    python tools/mutation.py --rerun mutation.json # judge the survivors again (after adding tests)

It takes ~15–40 minutes on 2 cores, so it is not part of CI.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The core modules: the numbers (formulas, closed forms, rules, shape propagation, the engine, predictions)
#: and the prover. Their tests are not kept by hand: see ``tests_for``.
CORE: tuple[str, ...] = (
    "costmodel/proofs/formulas.py",
    "costmodel/rules/closed_forms.py",
    "costmodel/proofs/claims.py",
    "costmodel/proofs/conv_claim.py",
    "costmodel/proofs/verify.py",
    "costmodel/rules/contractions.py",
    "costmodel/rules/pointwise.py",
    "costmodel/rules/movement.py",
    "costmodel/rules/free.py",
    "costmodel/rules/base.py",
    "costmodel/trace/module_shortcuts.py",
    "costmodel/trace/function_shortcuts.py",
    "costmodel/trace/fx_trace.py",
    "costmodel/analyze.py",
    "costmodel/runtime/predict.py",
)
#: Stages below the engine: their numbers are also judged by the engine's tests (closed forms written in
#: the tests, op by op) and by the independent oracles (fvcore, FlopCounterMode, the corpus).
BELOW_THE_ENGINE = ("rules", "trace")


def tests_for(module: str) -> list[str]:
    """The tests of a module, from its path: ``costmodel/<stage>/x.py`` is judged by ``tests/<stage>/``,
    a top-level ``costmodel/<stage>.py`` by ``tests/<stage>/``; the stages below the engine by the
    engine's tests too, and they and the engine by ``tests/oracles/`` (the tests mirror the packages, so
    a moved module keeps its tests)."""
    parts = Path(module).with_suffix("").parts
    stage = parts[1]
    tests = [f"tests/{stage}"]
    if stage in BELOW_THE_ENGINE:
        tests.append("tests/analyze")
    if stage in (*BELOW_THE_ENGINE, "analyze"):
        tests.append("tests/oracles")
    return [t for t in tests if (ROOT / t).is_dir()]


_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


@dataclass
class Mutant:
    """One change: where, what, and (after judging) the outcome."""

    module: str
    line: int
    description: str
    index: int  # position in the module's list of mutation points
    outcome: str = "pending"  # killed | survived | timeout | broken (does not compile)
    seconds: float = 0.0


def _skipped_lines(tree: ast.Module) -> set[int]:
    """Lines of docstrings, annotations and logging calls: mutations there change no behaviour."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str):
                skip.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
        for annotation in (getattr(node, "annotation", None), getattr(node, "returns", None)):
            if isinstance(annotation, ast.AST):
                skip.update(range(annotation.lineno, (annotation.end_lineno or annotation.lineno) + 1))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("debug", "info", "warning"):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return skip


_TOKENS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**", ast.Mod: "%",
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.And: "and", ast.Or: "or",
}  # fmt: skip


class _Source:
    """The module's text as UTF-8 lines (ast offsets count bytes), edited in place between positions."""

    def __init__(self, source: str) -> None:
        self.lines = [line.encode() for line in source.splitlines(keepends=True)]

    def offset(self, line: int, col: int) -> int:
        return sum(len(x) for x in self.lines[: line - 1]) + col

    def replace_span(self, start: tuple[int, int], end: tuple[int, int], new: str) -> str:
        """The text with everything between two positions replaced by ``new``."""
        data = b"".join(self.lines)
        return (data[: self.offset(*start)] + new.encode() + data[self.offset(*end) :]).decode()

    def replace_between(self, start: tuple[int, int], end: tuple[int, int], old: str, new: str) -> str:
        """Replace the first whole-token ``old`` between two positions by ``new``; the new text."""
        import re

        data = b"".join(self.lines)
        a, b = self.offset(*start), self.offset(*end)
        segment = data[a:b].decode()
        word = old[0].isalpha()
        pattern = rf"(?<![\w]){re.escape(old)}(?![\w])" if word else rf"(?<![=<>!*/]){re.escape(old)}(?![=<>*/])"
        match = re.search(pattern, segment)
        if match is None:
            raise ValueError(f"token {old!r} not found in {segment!r}")
        segment = segment[: match.start()] + new + segment[match.end() :]
        return (data[:a] + segment.encode() + data[b:]).decode()


def _end(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno, node.end_col_offset  # type: ignore[attr-defined, return-value]


def _start(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


def _points(source: str) -> Iterator[tuple[int, str, Callable[[], str]]]:
    """Every mutation point in a stable order (the index is the position): its line, a description,
    and the edit producing the mutated source (one token changed; the rest of the file, comments and
    formatting included, as it was)."""
    tree = ast.parse(source)
    skip = _skipped_lines(tree)
    text = _Source(source)

    def swap(start: tuple[int, int], end: tuple[int, int], op: type, suffix: str = "") -> Callable[[], str]:
        return lambda: text.replace_between(start, end, _TOKENS[op] + suffix, _TOKENS[_SWAPS[op]] + suffix)

    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if line is None or line in skip:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _SWAPS:
            op = type(node.op)
            yield line, f"{op.__name__} → {_SWAPS[op].__name__}", swap(_end(node.left), _start(node.right), op)
        elif isinstance(node, ast.AugAssign) and type(node.op) in _SWAPS:
            op = type(node.op)
            yield line, f"{op.__name__} → {_SWAPS[op].__name__}", swap(_end(node.target), _start(node.value), op, "=")
        elif isinstance(node, ast.Compare):
            for i, cmp in enumerate(node.ops):
                if type(cmp) in _SWAPS:
                    left = node.left if i == 0 else node.comparators[i - 1]
                    description = f"compare #{i} {type(cmp).__name__} → {_SWAPS[type(cmp)].__name__}"
                    yield line, description, swap(_end(left), _start(node.comparators[i]), type(cmp))
        elif isinstance(node, ast.BoolOp):
            op = type(node.op)
            yield line, f"{op.__name__} → {_SWAPS[op].__name__}", swap(_end(node.values[0]), _start(node.values[1]), op)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield line, "not x → x", lambda n=node: text.replace_between(_start(n), _start(n.operand), "not", "")
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield (
                line,
                f"{node.value} → {not node.value}",
                lambda n=node: text.replace_between(_start(n), _end(n), str(n.value), str(not n.value)),
            )
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield line, f"{node.value} → {node.value + 1}", lambda n=node: text.replace_span(_start(n), _end(n), str(n.value + 1))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            name = node.func.id
            other = "max" if name == "min" else "min"
            yield (
                line,
                f"{name} → {other}",
                lambda n=node, a=name, b=other: text.replace_between(_start(n.func), _end(n.func), a, b),
            )


def mutation_points(source: str) -> Iterator[tuple[int, str]]:
    """(line, description) of every mutation point, in a stable order (the index is the position)."""
    for line, description, _ in _points(source):
        yield line, description


def apply_mutation(source: str, index: int) -> str:
    """The source with mutation point ``index`` applied."""
    for i, (_, _, edit) in enumerate(_points(source)):
        if i == index:
            return edit()
    raise ValueError(f"no mutation point {index}")


def _scratch_copy(into: Path) -> Path:
    """A copy of the repository's code and tests (no .git, no venv) to mutate."""
    for name in ("costmodel", "cli", "tests", "pyproject.toml", "README.md", "docs", "notebooks"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
        elif src.exists():
            shutil.copy2(src, into / name)
    return into


def judge(mutant: Mutant, workdir: Path, timeout: float) -> Mutant:
    """Write the mutant into ``workdir``, run its module's tests, restore the original."""
    path = workdir / mutant.module
    original = path.read_text()
    try:
        mutated = apply_mutation(original, mutant.index)
        compile(mutated, str(path), "exec")
    except (SyntaxError, ValueError):
        mutant.outcome = "broken"
        return mutant
    path.write_text(mutated)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COSTMODEL_CACHE_DIR": str(workdir / ".cache")}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *tests_for(mutant.module)]
    try:
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, timeout=timeout)
        mutant.outcome = "survived" if done.returncode == 0 else "killed"
    except subprocess.TimeoutExpired:
        mutant.outcome = "timeout"
    finally:
        path.write_text(original)
        mutant.seconds = time.perf_counter() - start
    return mutant


def baseline_passes(workdir: Path, modules: list[str]) -> bool:
    """The unmutated copy must pass every selected test, or no mutant could survive."""
    tests = sorted({test for module in modules for test in tests_for(module)})
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *tests]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-3000:])
    return done.returncode == 0


def draw(modules: list[str], per_module: int, seed: int) -> list[Mutant]:
    """``per_module`` mutation points per module, drawn with ``seed`` (all of them if fewer)."""
    rng = random.Random(seed)
    mutants: list[Mutant] = []
    for module in modules:
        points = list(mutation_points((ROOT / module).read_text()))
        chosen = sorted(rng.sample(range(len(points)), min(per_module, len(points))))
        mutants += [Mutant(module, points[i][0], points[i][1], i) for i in chosen]
    return mutants


def main() -> int:
    """Draw, judge and summarise; exit 0 (the score is the output, not a pass/fail)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="*", default=list(CORE), help="modules to mutate (default: all core ones)")
    parser.add_argument("--per-module", type=int, default=25, help="mutants drawn per module (default 25)")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a mutant's run counts as killed")
    parser.add_argument("--json", type=Path, default=None, help="write every mutant's outcome here")
    parser.add_argument(
        "--rerun",
        type=Path,
        default=None,
        help="judge again only the survivors recorded in this --json file (after adding tests)",
    )
    args = parser.parse_args()
    untested = [m for m in args.modules if not (ROOT / m).is_file() or not tests_for(m)]
    if untested:
        parser.error(f"not a module with a test folder: {', '.join(untested)}")
    if args.rerun is not None:
        previous = [Mutant(**m) for m in json.loads(args.rerun.read_text())]
        mutants = []
        for m in previous:
            if m.outcome != "survived":
                continue
            points = list(mutation_points((ROOT / m.module).read_text()))
            if m.index >= len(points) or points[m.index] != (m.line, m.description):
                print(f"skipped: {m.module} changed since the recorded run (draw it anew with --modules)")
                continue
            m.outcome = "pending"
            mutants.append(m)
        args.modules = sorted({m.module for m in mutants}, key=lambda m: (m not in CORE, CORE.index(m) if m in CORE else 0))
    else:
        mutants = draw(args.modules, args.per_module, args.seed)
    print(f"{len(mutants)} mutants over {len(args.modules)} modules, {args.workers} workers", flush=True)
    scratch = [_scratch_copy(Path(tempfile.mkdtemp(prefix="costmodel-mutation-"))) for _ in range(args.workers)]
    if not baseline_passes(scratch[0], args.modules):
        print("the unmutated tests fail: fix them first")
        return 1
    queues = [mutants[i :: args.workers] for i in range(args.workers)]

    def work(i: int) -> None:
        for m in queues[i]:
            judge(m, scratch[i], args.timeout)
            print(f"{m.outcome:8s} {m.seconds:6.1f}s {m.module}:{m.line} {m.description}", flush=True)

    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(work, range(args.workers)))
    for folder in scratch:
        shutil.rmtree(folder, ignore_errors=True)
    print("\nmodule                               killed  survived  score")
    for module in args.modules:
        mine = [m for m in mutants if m.module == module and m.outcome != "broken"]
        killed = sum(m.outcome in ("killed", "timeout") for m in mine)
        print(f"{module:36s} {killed:6d} {len(mine) - killed:9d}  {100 * killed / max(1, len(mine)):5.1f}%")
    judged = [m for m in mutants if m.outcome != "broken"]
    killed = sum(m.outcome in ("killed", "timeout") for m in judged)
    print(f"{'all':36s} {killed:6d} {len(judged) - killed:9d}  {100 * killed / max(1, len(judged)):5.1f}%")
    print("\nsurvivors:")
    for m in judged:
        if m.outcome == "survived":
            print(f"  {m.module}:{m.line}  {m.description}  | {(ROOT / m.module).read_text().splitlines()[m.line - 1].strip()}")
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in mutants], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
