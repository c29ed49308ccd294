"""The layout says the architecture: a package per stage, imports only down the stages (lazy imports
included), no import circle, no private name used outside its module, no module over the size limit,
and tests that mirror the packages."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The stages, lowest first: a module may import its own floor or any floor below, never one above.
FLOORS: list[tuple[str, ...]] = [
    ("costmodel.errors", "costmodel.units"),
    ("costmodel.inputs", "costmodel.zoo"),
    ("costmodel.rules", "costmodel.report"),
    ("costmodel.trace",),
    ("costmodel.memory",),
    ("costmodel.analyze",),
    ("costmodel.proofs", "costmodel.runtime", "costmodel.symbolic"),
    ("costmodel.guidelines", "costmodel.sweeps"),
    ("costmodel.render",),
    ("costmodel",),  # the package's __init__: the public API
    ("costmodel_cli",),
]
MAX_LINES = 600
GENERATED = {"costmodel.rules.closed_forms"}


def module_name(path: Path) -> str:
    """'costmodel.trace.fx_trace' for costmodel/trace/fx_trace.py; the CLI under its one import name."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "cli":
        parts[0] = "costmodel_cli"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def library_files() -> dict[str, Path]:
    files = [*(ROOT / "costmodel").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]
    return {module_name(p): p for p in files}


def floor_of(module: str) -> int:
    best, found = -1, -1
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), level
    assert found >= 0, f"{module} is on no floor: add its package to FLOORS"
    return found


def imports_of(path: Path, own: str, known: set[str]) -> list[tuple[str, int, list[str]]]:
    """(imported module, line, names) for every import of a project module, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            for name in names:  # `from costmodel.render import plots` imports the module plots
                if f"{node.module}.{name}" in known:
                    found.append((f"{node.module}.{name}", node.lineno, []))
            rest = [n for n in names if f"{node.module}.{n}" not in known]
            if node.module in known and (rest or not names):  # names from the module itself, not submodules
                found.append((node.module, node.lineno, rest))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno, []) for a in node.names if a.name in known]
    return [f for f in found if f[0] != own]


def test_imports_only_go_down_the_stages() -> None:
    files = library_files()
    known = set(files)
    upward = []
    for module, path in files.items():
        for target, line, _ in imports_of(path, module, known):
            if floor_of(target) > floor_of(module):
                upward.append(f"{module}:{line} imports {target} (floor {floor_of(target)} > {floor_of(module)})")
    assert upward == []


def test_no_import_circle() -> None:
    files = library_files()
    known = set(files)
    graph = {m: {t for t, _, _ in imports_of(p, m, known)} for m, p in files.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_private_name_is_used_outside_its_module() -> None:
    files = library_files()
    test_files = {module_name(p): p for p in (ROOT / "tests").rglob("*.py")}
    bench_files = {f"benchmarks.{p.stem}": p for p in (ROOT / "benchmarks").glob("*.py")}
    known = set(files) | set(test_files)
    reached = []
    for module, path in {**files, **test_files, **bench_files}.items():
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for target, line, names in imports_of(path, module, known):
            reached += [f"{module}:{line} imports {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    if f"{node.module}.{a.name}" in known:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in known and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                reached.append(f"{module}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    assert reached == []


def test_no_module_over_the_size_limit() -> None:
    sizes = {m: len(p.read_text().splitlines()) for m, p in library_files().items() if m not in GENERATED}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_tests_mirror_the_packages() -> None:
    # every stage package has a test folder of the same name (the mutation tool's targets come from it)
    packages = {p.parent.name for p in (ROOT / "costmodel").glob("*/__init__.py")}
    folders = {p.parent.name for p in (ROOT / "tests").glob("*/__init__.py")}
    assert packages - folders == set()


def test_one_import_name_for_the_cli() -> None:
    users = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "cli").glob("*.py")]
    found = [
        f"{p.relative_to(ROOT)}:{node.lineno}"
        for p in users
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and (node.module == "cli" or node.module.startswith("cli."))
    ]
    assert found == []


def test_the_distribution_ships_every_package() -> None:
    # an editable install finds any subpackage, a wheel only those pyproject lists: a missing one breaks `pip install .`
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {"costmodel"} | {f"costmodel.{p.parent.name}" for p in (ROOT / "costmodel").glob("*/__init__.py")}
    assert packages - listed == set()
