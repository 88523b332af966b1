"""The architecture rules, read from the code itself (every import statement, found with `ast`):

- `syncworker/bootstrap.py` is the only module that imports concrete adapters; the simulators (test doubles) are
  imported only by the `simulate` and `demo` entry points;
- the domain (`domain/`, `matching/`) imports no HTTP, no ORM, no web framework, no adapter and no service;
- no import cycle: no module needs, while it loads, a module that needs it back.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("syncworker", "adapters", "simulators")
CONCRETE_ADAPTERS = ("adapters.xpm", "adapters.xero", "adapters.aps", "adapters.xero_identity")
# The settings tree builds its `.xpm` section with the XPM adapter's settings type: data, not an adapter.
SETTINGS_SECTIONS = {"syncworker/config.py": {"adapters.xpm.settings"}}
SIMULATOR_ENTRY_POINTS = {"syncworker/cli/simulate_cmds.py", "syncworker/services/demo.py"}
IMPURE = ("sqlalchemy", "alembic", "requests", "httpx", "urllib3", "fastapi", "starlette", "uvicorn", "apscheduler",
          "procrastinate", "psycopg", "adapters", "simulators")
DOMAIN_MAY_USE = ("syncworker.domain", "syncworker.matching", "syncworker.config")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name of what is imported (a module, or a name inside one)
    line: int
    at_load: bool  # run when the importing module loads (not inside a function, not under TYPE_CHECKING)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in FIRST_PARTY for p in sorted((ROOT / pkg).rglob("*.py"))
            if "migrations" not in p.parts}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


@functools.cache
def imports_of(name: str) -> tuple[Import, ...]:
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, at_load: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno, at_load) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from pkg import sub` imports the submodule `pkg.sub`; `from mod import name` imports `mod`.
            subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules()]
            found.extend(Import(m, node.lineno, at_load) for m in (subs or [base]))
        elif isinstance(node, ast.If) and _type_checking(node):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, at_load)
            return
        inner = at_load and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return tuple(found)


def importers_of(prefixes: tuple[str, ...], within: str = "syncworker") -> dict[str, set[str]]:
    """Files under `within` that import anything under `prefixes`, with what they import."""
    out: dict[str, set[str]] = {}
    for name, path in modules().items():
        if _under(name, (within,)):
            hits = {i.module for i in imports_of(name) if _under(i.module, prefixes)}
            if hits:
                out[str(path.relative_to(ROOT))] = hits
    return out


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_only_the_composition_root_imports_concrete_adapters() -> None:
    offenders = {path: hits - SETTINGS_SECTIONS.get(path, set())
                 for path, hits in importers_of(CONCRETE_ADAPTERS).items() if path != "syncworker/bootstrap.py"}
    assert {path: sorted(hits) for path, hits in offenders.items() if hits} == {}


def test_the_composition_root_builds_every_system() -> None:
    root = {i.module.split(".")[1] for i in imports_of("syncworker.bootstrap") if _under(i.module, CONCRETE_ADAPTERS)}
    assert root == {"xpm", "xero", "aps", "xero_identity"}


def test_only_the_simulate_and_demo_entry_points_import_the_simulators() -> None:
    assert set(importers_of(("simulators",))) <= SIMULATOR_ENTRY_POINTS


def test_the_domain_imports_no_io_framework_adapter_or_service() -> None:
    offenders = {}
    for name in modules():
        if _under(name, ("syncworker.domain", "syncworker.matching")):
            bad = sorted({i.module for i in imports_of(name)
                          if _under(i.module, IMPURE) or (_under(i.module, ("syncworker",))
                                                          and not _under(i.module, DOMAIN_MAY_USE))})
            if bad:
                offenders[name] = bad
    assert offenders == {}


def load_time_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports while it loads. A module's own enclosing packages are left
    out: Python loads them first anyway, so `pkg/__init__` importing `pkg.sub` is no cycle."""
    graph: dict[str, set[str]] = {}
    for name in modules():
        deps = set()
        for imp in imports_of(name):
            if not imp.at_load:
                continue
            target = _owning_module(imp.module)
            if target and target != name and not name.startswith(target + "."):
                deps.add(target)
                # Importing a.b.c loads a and a.b first.
                deps.update(p for p in _parents(target) if p in modules() and not name.startswith(p + ".")
                            and p != name)
        graph[name] = deps
    return graph


def _owning_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules():
            return ".".join(parts[:end])
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycle() -> None:
    assert cycles(load_time_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_deferred_and_type_checking_imports() -> None:
    # The rules above would pass vacuously if the reader missed imports inside functions or TYPE_CHECKING.
    root = {(i.module, i.at_load) for i in imports_of("syncworker.bootstrap")}
    assert ("adapters.xpm.client", False) in root  # inside adapter_for
    assert ("syncworker.services.context", True) in root
    config = {(i.module, i.at_load) for i in imports_of("syncworker.config")}
    assert ("adapters.xpm.settings", False) in config
