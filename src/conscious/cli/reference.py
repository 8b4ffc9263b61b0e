"""``docs/reference.md``, made from the code: every setting (its key, type and range, default and
what it does, read from the attribute docstrings beside it) and every command with its options.
A test compares the file with what this makes, so the reference cannot drift from the code;
``conscious reference > docs/reference.md`` writes it again."""

from __future__ import annotations

import ast
import inspect
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from conscious.cli.commands import everything
from conscious.cli.common import app
from conscious.config import Config
from conscious.config import ranges as ranges_module

HEADER = """# Reference

Made from the code by `conscious reference` (a test keeps it equal to what that prints): every
setting, then every command. Settings are read from `config.toml` (`conscious init` writes a
commented one), and each can be given in the environment as `CONSCIOUS_<KEY>`, a section's key as
`CONSCIOUS_<SECTION>__<KEY>` (e.g. `CONSCIOUS_SANDBOX__NETWORK=none`).
"""


@app.command(hidden=True)
def reference() -> None:
    """Print the reference of settings and commands (docs/reference.md)."""
    print(render(), end="")


def render() -> str:
    parts = [HEADER, "## Kinds of values\n", *_ranges(), "\n## Settings\n"]
    parts += _settings(Config, "")
    parts.append("\n## Commands\n")
    command = typer.main.get_command(everything())
    parts += _commands(command, "conscious")
    return "\n".join(parts).rstrip("\n") + "\n"


def _ranges() -> Iterator[str]:
    docs = _docstrings(ranges_module)
    for name, doc in docs.items():
        yield f"- `{name}`: {doc}"


def _settings(model: type[BaseModel], prefix: str) -> list[str]:
    docs = _docstrings(model)
    annotations = _annotations(model)
    rows, sections = ["| key | type | default | |", "|---|---|---|---|"], []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            sections.append((name, kind))
            continue
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        doc = " ".join(docs.get(name, "").split()).replace("|", "\\|")
        kind_text = annotations.get(name, "").replace("|", "\\|")
        rows.append(f"| `{name}` | `{kind_text}` | `{_shown(default)}` | {doc} |")
    out = rows if len(rows) > 2 else []
    for name, section in sections:
        out += [f"\n### [{prefix}{name}]\n", *_settings(section, f"{prefix}{name}.")]
    return out


def _shown(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        text = json.dumps(value, default=str)
    except TypeError:
        text = str(value)
    # Defaults made where it runs (the folder watched is the current one): said, not shown.
    text = text.replace(json.dumps(str(Path.cwd()))[1:-1], "<the current folder>")
    text = text.replace(json.dumps(str(Path.home()))[1:-1], "~")
    return text.replace("|", "\\|") if len(text) <= 60 else text[:57].replace("|", "\\|") + "…"


def _docstrings(obj: Any) -> dict[str, str]:
    """``name: type = value`` followed by a string: the string, as the attribute's doc."""
    tree = ast.parse(inspect.getsource(obj))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else tree.body
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if target is None and isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[target.id] = inspect.cleandoc(str(after.value.value))
    return docs


def _annotations(model: type[BaseModel]) -> dict[str, str]:
    tree = ast.parse(inspect.getsource(model))
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = ast.unparse(node.annotation)
    return found


def _commands(command: Any, path: str) -> list[str]:
    # Any: typer may bring its own click (newer typer vendors it), so nothing is checked by class.
    if getattr(command, "hidden", False):
        return []
    out: list[str] = []
    if (group := getattr(command, "commands", None)) is not None:  # typer may bring its own click
        for name in sorted(group):
            out += _commands(group[name], f"{path} {name}")
        return out
    out.append(f"### `{path}`\n")
    out.append(inspect.cleandoc(command.help or "").split("\n\n")[0] + "\n")
    for param in command.params:
        if param.param_type_name == "argument":
            out.append(f"- `{(param.metavar or param.name or '').upper()}` (argument){_help(param)}")
        elif param.param_type_name == "option" and not getattr(param, "hidden", False) and "--help" not in param.opts:
            out.append(f"- `{', '.join(param.opts)}`{_help(param)}")
    out.append("")
    return out


def _help(param: Any) -> str:
    text = getattr(param, "help", None) or ""
    default = param.default if not callable(param.default) and param.default not in (None, False, ()) else None
    said = f": {' '.join(text.split())}" if text else ""
    return said + (f" (default: `{default}`)" if default is not None else "")
