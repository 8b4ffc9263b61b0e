"""The house rules of docs/architecture.md, checked on the code itself: which room may import
which, no cycles between modules, SQL only in the journal, modules kept small, and tests/
mirroring src/conscious/."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "conscious"
TESTS = Path(__file__).parent

FOUNDATION = {"errors", "model", "paths", "config", "system"}
"""Importable from anywhere; imports only itself."""

ARCHITECTURE = Path(__file__).parents[1] / "docs" / "architecture.md"
ROW = re.compile(r"^\|([^|]+)\|([^|]+)\|")


def table(heading: str) -> dict[str, set[str]]:
    """The first column → the second's names, of the architecture page's table whose headers
    begin ``| heading |``; a row may name several rooms or modules (``a/``, ``b/``)."""
    found: dict[str, set[str]] = {}
    lines = iter(ARCHITECTURE.read_text().splitlines())
    for line in lines:
        if line.startswith(f"| {heading} |"):
            break
    else:
        raise AssertionError(f"docs/architecture.md has no table headed {heading!r}")
    next(lines)  # |---|---|
    for line in lines:
        if not (match := ROW.match(line)):
            break
        names = {n.strip() for n in match[2].split(",") if n.strip() not in ("", "—")}
        for key in re.findall(r"`([^`]+)`", match[1]):
            found[key.removesuffix("/").removesuffix(".py").replace("/", ".")] = names
    return found


MAY_IMPORT: dict[str, set[str]] = {"foundation": set(), **table("room | may also import")}
"""Room → the rooms it may import besides the foundation and itself (the loop's stages
downward; nothing imports upward): the table of docs/architecture.md, read from it."""
BESIDES = {f"conscious.{module}": rooms for module, rooms in table("module | may also import").items()}
"""Module → the rooms it may import besides its room's: the CLI's commands that are not about
the running daemon (the page's second table)."""

MAX_LINES = 400


def room(module: str) -> str:
    """``conscious.gate.policy`` → ``gate``; the foundation's modules are one room."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ("__main__",):
        return "cli"
    name = parts[1]
    return "foundation" if name in FOUNDATION else name


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imports(module: str, path: Path) -> set[str]:
    """The ``conscious`` modules (or packages) this module imports, at run time or for typing."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "conscious":
                found.update(f"conscious.{a.name}" for a in node.names)
            elif target.startswith("conscious."):
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("conscious."))
    return found


ALL = dict(modules())


def test_the_rules_know_every_room() -> None:
    rooms = {room(m) for m in ALL}
    assert rooms <= set(MAY_IMPORT), rooms - set(MAY_IMPORT)
    assert {"journal", "observe", "think", "gate", "delegate", "loop", "control", "api", "cli"} <= rooms
    assert set(BESIDES) <= set(ALL), f"the page names modules that are not there: {set(BESIDES) - set(ALL)}"
    named = {r for allowed in [*MAY_IMPORT.values(), *BESIDES.values()] for r in allowed}
    assert named <= rooms, f"the page names rooms that are not there: {named - rooms}"


def test_the_cli_and_the_api_import_no_stage_but_where_the_page_says() -> None:
    """Through the facade (control/facade.py), not around it: the page's rule, kept."""
    stages = {"journal", "observe", "think", "gate", "delegate", "loop"}
    assert not MAY_IMPORT["api"] & stages and not MAY_IMPORT["cli"] & stages
    assert {m.rpartition(".")[2] for m in BESIDES} <= {"doctor", "model", "tools", "watching"}


@pytest.mark.parametrize("module", sorted(ALL))
def test_imports_go_only_down(module: str) -> None:
    here = room(module)
    allowed = MAY_IMPORT[here] | BESIDES.get(module, set()) | {"foundation", here}
    wrong = sorted(t for t in imports(module, ALL[module]) if room(t) not in allowed)
    assert not wrong, f"{module} ({here}) imports upward or sideways: {wrong}"


def test_no_import_cycles() -> None:
    graph = {m: {t for t in imports(m, p) if t in ALL and t != m} for m, p in ALL.items()}
    # A package's __init__ re-exporting its own modules is not a cycle of concepts.
    graph = {
        m: {t for t in ts if not (ALL[m].name == "__init__.py" and t.startswith(m + "."))} for m, ts in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " → ".join([*stack[stack.index(t) :], t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE|PRAGMA|BEGIN IMMEDIATE)\b")


@pytest.mark.parametrize("module", sorted(m for m in ALL if room(m) != "journal"))
def test_sql_lives_in_the_journal_only(module: str) -> None:
    tree = ast.parse(ALL[module].read_text())
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    docstrings = {
        ast.get_docstring(n, clean=False)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    }
    sql = [s for s in strings if s not in docstrings and SQL.search(s)]
    assert not sql, f"{module} holds SQL: {sql[:2]}"
    assert ".db.execute(" not in ALL[module].read_text(), f"{module} runs SQL on the journal's connection"


@pytest.mark.parametrize("module", sorted(ALL))
def test_modules_stay_small(module: str) -> None:
    lines = len(ALL[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES}: one concept per module)"


def test_tests_mirror_the_source_folders() -> None:
    source_rooms = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    test_rooms = {p.name for p in TESTS.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert source_rooms <= test_rooms, f"no tests/ folder for {sorted(source_rooms - test_rooms)}"
    assert test_rooms - source_rooms <= {"fakes"}, f"tests/ folders with no source room: {test_rooms - source_rooms}"


def test_no_two_classes_share_a_name() -> None:
    """One meaning per name: two ``Memory`` (the journal's notes and the window's durable copy)
    or two ``Outcome`` (an agent's and an eval scenario's) read as one thing and are not."""
    where: dict[str, list[str]] = {}
    for module, path in ALL.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(module)
    shared = {name: modules for name, modules in where.items() if len(modules) > 1}
    assert not shared, f"classes with one name in several modules: {shared}"


def test_every_file_and_protocol_the_page_names_is_there() -> None:
    """The page kept true where it can be checked: each ``room/module.py`` it names exists (or,
    written inside its room's row, ``backends/x.py``, under that room), and
    each plug point's protocol is a class of the module it names."""
    text = ARCHITECTURE.read_text()
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", text))
    where = [SRC, SRC.parent.parent, SRC.parent.parent / "tests"]
    missing = sorted(n for n in named if not any((base / n).exists() for base in where) and not any(SRC.glob(f"*/{n}")))
    assert not missing, f"docs/architecture.md names files that are not there: {missing}"
    protocols = re.findall(r"^\| [^|]+ \| `([a-z_/]+\.py)` `(\w+)` \|", text, flags=re.MULTILINE)
    assert len(protocols) >= 8, protocols
    for path, name in protocols:
        classes = {n.name for n in ast.parse((SRC / path).read_text()).body if isinstance(n, ast.ClassDef)}
        assert name in classes, f"{path} has no class {name} (docs/architecture.md, plug points)"
