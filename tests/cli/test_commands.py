"""A command loads only the module that defines it: ``WHERE`` must say, for every command the
modules register, which module that is — a command added without its line would be unknown to
``conscious <it>`` run alone."""

from __future__ import annotations

import subprocess
import sys

import typer

from conscious.cli.commands import WHERE, everything


def test_where_names_the_module_of_every_command_and_group() -> None:
    group = typer.main.get_group(everything())
    found: dict[str, str] = {}
    for name, command in group.commands.items():
        callback = command.callback
        if isinstance(command, typer.core.TyperGroup):
            callback = next(iter(command.commands.values())).callback
        assert callback is not None, name
        module = getattr(callback, "__wrapped__", callback).__module__
        found[name] = module.removeprefix("conscious.cli.")
    assert found == WHERE


def _loaded(*argv: str) -> set[str]:
    code = (
        "import sys; from conscious.cli.commands import load; load(sys.argv[1:]); "
        "print(' '.join(m for m in sys.modules if m.startswith('conscious.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_tell_loads_neither_the_terminal_nor_the_mcp_sdk() -> None:
    loaded = _loaded("tell", "hello")
    assert "conscious.cli.talk" in loaded
    assert not loaded & {"conscious.cli.show", "conscious.cli.mcp_server", "conscious.cli.doctor", "conscious.cli.run"}
    assert (
        "mcp"
        not in subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from conscious.cli.commands import load; load(['tell']); print(*sys.modules)",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    )


def test_help_and_unknown_names_load_every_command() -> None:
    every = {f"conscious.cli.{module}" for module in WHERE.values()}
    assert every <= _loaded()
    assert every <= _loaded("--help")
    assert every <= _loaded("no-such-command")
