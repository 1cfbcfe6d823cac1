"""The shape of the code holds: imports point down the layers, no cycles, no file too long to read.

The layers, from the bottom (README, Layout):
    0  schemas                          the event contract
    1  producers, consumers.policy,     the SDK; the policy; who a person is
       consumers.identity
    2  consumers.store                  the store and the tables every part shares
    3  consumers.audit                  the audit chain the jobs write their records through
    4  consumers.pipeline, .rights,     the tagging consumer and the three jobs, side by side
       .retention, .usage
    5  lineage, lineage.*               the app: settings, wiring, broker, CLI

A part imports only from layers below its own; parts of one layer never import
each other, except inside the app. A new package must be given a layer here.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "producers", "consumers", "lineage")
LAYERS = {
    "schemas": 0,
    "producers": 1,
    "consumers.policy": 1,
    "consumers.identity": 1,
    "consumers.store": 2,
    "consumers.audit": 3,
    "consumers.pipeline": 4,
    "consumers.rights": 4,
    "consumers.retention": 4,
    "consumers.usage": 4,
    "lineage": 5,
    "lineage.broker": 5,
    "lineage.cli": 5,
    "lineage.lineage_events": 5,
    "lineage.service": 5,
}
APP = 5
MAX_LINES = 400


def part_of(module: str, root: Path) -> str | None:
    """The part a module belongs to: its top-level package, or the subpackage below it when that is a folder."""
    names = module.split(".")
    if names[0] not in PACKAGES:
        return None
    if len(names) > 1 and (root / names[0] / names[1] / "__init__.py").exists():
        return f"{names[0]}.{names[1]}"
    return names[0]


def _module_name(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path, root: Path) -> list[tuple[str, int]]:
    """Every module ``path`` imports (absolute or relative, at any depth of the file), with its line."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
    return found


def arrows(root: Path) -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> where: every import from one part of the project into another."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = part_of(_module_name(path, root), root)
            for target, line in imports_of(path, root):
                to = part_of(target, root)
                if source and to and to != source:
                    out[(source, to)].append(f"{path.relative_to(root)}:{line} imports {target}")
    return dict(out)


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one part (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def wrong_way(found: dict[tuple[str, str], list[str]]) -> list[str]:
    """Imports that point up the layers or sideways between parts of one layer (the app excepted)."""
    problems = []
    for (a, b), where in sorted(found.items()):
        if a not in LAYERS or b not in LAYERS:
            problems.append(f"{(a if a not in LAYERS else b)!r} has no layer in tests/test_layout.py: {where[0]}")
        elif LAYERS[b] > LAYERS[a] or (LAYERS[b] == LAYERS[a] and LAYERS[a] != APP):
            problems.append(f"{a} (layer {LAYERS[a]}) -> {b} (layer {LAYERS[b]}): {where[0]}")
    return problems


# --- the project ---------------------------------------------------------------------------


def test_the_walk_sees_the_architecture() -> None:
    found = arrows(REPO)
    # Not a vacuous walk: arrows from every layer to the one below are there.
    expected = {("producers", "schemas"), ("consumers.usage", "consumers.store"), ("consumers.pipeline", "schemas"),
                ("consumers.pipeline", "consumers.store"), ("consumers.rights", "consumers.identity"),
                ("lineage", "consumers.pipeline"), ("lineage.cli", "lineage")}  # fmt: skip
    assert expected <= set(found)


def test_no_import_cycle_between_parts() -> None:
    assert cycles(set(arrows(REPO))) == []


def test_imports_point_down_the_layers() -> None:
    assert wrong_way(arrows(REPO)) == []


def test_only_the_app_imports_the_app() -> None:
    backward = [w for (a, b), where in arrows(REPO).items() for w in where
                if b.startswith("lineage") and not a.startswith("lineage")]  # fmt: skip
    assert backward == []


def test_only_the_store_touches_the_clickhouse_driver() -> None:
    outside = [f"{path.relative_to(REPO)}:{line}" for package in PACKAGES for path in (REPO / package).rglob("*.py")
               if part_of(_module_name(path, REPO), REPO) != "consumers.store"
               for target, line in imports_of(path, REPO) if target.split(".")[0] == "clickhouse_connect"]  # fmt: skip
    assert outside == []


def test_no_source_file_is_longer_than_can_be_read_in_one_sitting() -> None:
    lines = {p: len(p.read_text(encoding="utf-8").splitlines())
             for folder in (*PACKAGES, "tests", "benchmarks") for p in (REPO / folder).rglob("*.py")}  # fmt: skip
    assert len(lines) > 50
    assert sorted(f"{p.relative_to(REPO)}: {n} lines" for p, n in lines.items() if n > MAX_LINES) == []


# --- the checks themselves catch what they claim to catch -------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    return _tree(tmp_path, {
        "schemas/__init__.py": "", "consumers/__init__.py": "", "lineage/__init__.py": "",
        "consumers/store/__init__.py": "", "consumers/store/store.py": "from schemas import models\n",
        "consumers/rights/__init__.py": "", "consumers/usage/__init__.py": "",
    })  # fmt: skip


def test_a_store_that_imports_a_job_is_caught(small_tree: Path) -> None:
    _tree(small_tree, {"consumers/store/tables.py": "def f():\n    from consumers.rights import tables\n"})
    assert wrong_way(arrows(small_tree)) == [
        "consumers.store (layer 2) -> consumers.rights (layer 4): consumers/store/tables.py:2 imports consumers.rights"
    ]


def test_a_job_that_imports_another_job_is_caught(small_tree: Path) -> None:
    _tree(small_tree, {"consumers/rights/office.py": "from ..usage import rebuild\n"})
    assert [p.split(":")[0] for p in wrong_way(arrows(small_tree))] == [
        "consumers.rights (layer 4) -> consumers.usage (layer 4)"
    ]


def test_a_cycle_through_two_parts_is_caught(small_tree: Path) -> None:
    _tree(small_tree, {"consumers/rights/a.py": "import consumers.usage.b\n",
                       "consumers/usage/b.py": "from consumers.rights import a\n"})  # fmt: skip
    assert cycles(set(arrows(small_tree))) == [["consumers.rights", "consumers.usage"]]


def test_the_core_importing_the_app_is_caught(small_tree: Path) -> None:
    _tree(small_tree, {"consumers/store/wired.py": "from lineage.settings import Settings\n"})
    assert wrong_way(arrows(small_tree)) == [
        "consumers.store (layer 2) -> lineage (layer 5): consumers/store/wired.py:1 imports lineage.settings"
    ]


def test_a_package_without_a_layer_is_caught(small_tree: Path) -> None:
    _tree(small_tree, {"consumers/extra/__init__.py": "", "consumers/extra/job.py": "import consumers.store.store\n"})
    assert wrong_way(arrows(small_tree)) == [
        "'consumers.extra' has no layer in tests/test_layout.py: consumers/extra/job.py:1 imports consumers.store.store"
    ]
