"""The wall around every agent process: what it may read, write and reach, whatever it says.

The word gate (``gate/tools.py``) reads each tool call; a shell can always say more than a
reader understands, so the promises rest here instead, on the kernel. A ``Sandbox`` makes one
``Cell`` per task, and every process the task runs — the agent, its hooks and tools, what they
start, the checks and the bookkeeping commit run in its folder — starts through the cell:

- ``Bubblewrap``: bubblewrap (Linux namespaces, no daemon, no setuid needed where user
  namespaces are allowed). The whole filesystem read-only; the task's folder and a private
  ``/tmp`` writable; the daemon's state, your checkout (all but the objects its clone borrows),
  other tasks and the ``hidden`` list (credentials) replaced by empty folders; ``private``
  paths of your home given as the task's own copies; a pid namespace of its own (it sees no
  process but its own, and all of them die with the task); no network but, through the
  daemon's proxy (``proxy.py``), the hosts allowed.
- ``Unwalled``: ``sandbox.mode = "off"``, chosen explicitly, and said by ``status``.

Chosen over Anthropic's ``srt`` (a Node package, one more runtime to install and trust, doing
the same with bubblewrap on Linux), over Claude Code's own ``sandbox`` setting (Bash only:
hooks and file tools run outside it) and over Landlock alone (no pid or network namespace):
see ``docs/sandbox.md``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from conscious.config import SandboxConfig
from conscious.errors import CommandNotFound

BRIDGE_PORT = 3128
"""Where, inside the cell, the proxy is reached (``HTTPS_PROXY=http://127.0.0.1:3128``)."""
INSTALL = "bubblewrap is not installed: `sudo apt install bubblewrap` (or dnf/pacman), or set sandbox.mode = 'off'"


@dataclass(frozen=True)
class Rooms:
    """What one task's cell is made of (all absolute paths)."""

    root: Path
    """The task's folder: the only place its writes persist."""
    cwd: Path
    scratch: Path
    """The task's private folder on the host: its ``/tmp`` and its copies of ``private`` paths."""
    hidden: Sequence[Path] = ()
    """Folders and files it must not see (the daemon's state, your checkout, …)."""
    readable: Sequence[Path] = ()
    """Inside ``hidden`` folders, what it may still read (its clone's borrowed objects, its hook)."""
    writable: Sequence[Path] = ()
    """Inside ``hidden`` folders, what it may write (the file its hook leaves verdicts in)."""


@dataclass(frozen=True)
class Cell:
    """How the processes of one task start: ``options`` (the walls), then ``runner`` (what runs
    first inside: the network bridge), then the command."""

    options: tuple[str, ...] = ()
    runner: tuple[str, ...] = ()
    walled: bool = False

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run in the cell. Not found is said here, as it would be outside: inside, it
        would only be an exit code. A program under /tmp (a cell's /tmp is its own) is made
        visible where it is, read-only."""
        if not self.walled:
            return list(argv)
        found = shutil.which(argv[0]) if "/" not in argv[0] else argv[0]
        if found is None:
            raise CommandNotFound(f"command not found: {argv[0]}")
        extra = [arg for folder in _program_folders(Path(found)) for arg in ("--ro-bind", str(folder), str(folder))]
        return [*self.options, *extra, "--", *self.runner, *argv]


def _program_folders(program: Path) -> list[Path]:
    """The folders under /tmp a program needs to run from there: its own (and, for a link, its
    target's), or the package a ``node_modules`` entry point belongs to."""
    folders = []
    for path in {Path(os.path.abspath(program)), program.resolve()}:
        if not path.is_relative_to("/tmp"):
            continue
        parts = path.parts
        top = parts.index("node_modules") if "node_modules" in parts else len(parts) - 1
        folders.append(Path(*parts[:top]))
    return sorted(set(folders))


class Sandbox(Protocol):
    walled: bool

    def describe(self) -> str:
        """One line for ``status``."""

    def unavailable(self) -> str | None:
        """Why no task can start here (None: it can)."""

    def cell(self, rooms: Rooms) -> Cell: ...


class Unwalled:
    """No wall: agents run as you do. Only ever an explicit choice."""

    walled = False

    def describe(self) -> str:
        return "OFF (sandbox.mode = 'off'): agents run as you, with only the word gate between them and your machine"

    def unavailable(self) -> str | None:
        return None

    def cell(self, rooms: Rooms) -> Cell:
        return Cell()


class Bubblewrap:
    walled = True

    def __init__(self, config: SandboxConfig, *, proxy: Path | None = None, python: str = sys.executable) -> None:
        self.config = config
        self.proxy = proxy
        """The daemon's proxy socket (``network = 'allowlist'``)."""
        self.python = python
        self.binary = shutil.which("bwrap")

    def describe(self) -> str:
        c = self.config
        net = {"allowlist": f"only {len(c.allow_hosts)} allowed hosts", "none": "no network", "open": "OPEN network"}
        limit = f", at most {c.processes} processes" if c.processes else ""
        limit += f" of {c.memory_mb} MiB each" if c.memory_mb else ""
        return f"bubblewrap: writes only in the task's folder, {net[c.network]}, own pid namespace{limit}"

    def unavailable(self) -> str | None:
        if self.binary is None:
            return INSTALL
        return _trial(self.binary)

    def cell(self, rooms: Rooms) -> Cell:
        assert self.binary is not None, INSTALL
        c = self.config
        home = Path.home()
        args = [self.binary, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        args += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        if c.network != "open":
            args.append("--unshare-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        # /run holds the user's D-Bus and systemd sockets (a user unit is one call away) and
        # docker's; name resolution is all a process needs from it, and only with open network.
        args += ["--tmpfs", "/run"]
        resolved = Path("/run/systemd/resolve")
        if c.network == "open" and resolved.is_dir():
            args += ["--ro-bind", str(resolved), str(resolved)]
        tmp = rooms.scratch / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        args += ["--bind", str(tmp), "/tmp"]
        hidden = [*rooms.hidden, *(_expand(p, home) for p in c.hidden)]
        privates = [_expand(p, home) for p in c.private]
        args += _home(home, skip={*hidden, *privates})
        emptied: list[str] = []
        for path in _outermost(hidden):
            if path.is_relative_to("/tmp"):
                continue  # under the private /tmp already, and not to be made there
            if path.is_dir() and not path.is_symlink():
                args += ["--tmpfs", str(path)]
                emptied.append(str(path))
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        for private in privates:
            copy = rooms.scratch / "home" / private.relative_to(home) if private.is_relative_to(home) else None
            if copy is not None and _copy_once(private, copy):
                args += ["--bind", str(copy), str(private)]
        for path in [*rooms.readable, *_runtime(self.python)]:
            args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", str(rooms.root), str(rooms.root)]
        shared = [p for p in (_expand(p, home) for p in c.writable) if p.exists()]
        for path in [*rooms.writable, *shared]:
            args += ["--bind", str(path), str(path)]
        env = {"TMPDIR": "/tmp", "CONSCIOUS_SANDBOX": "bwrap"}
        if c.network == "allowlist" and self.proxy is not None:
            args += ["--bind", str(self.proxy), str(self.proxy)]
            url = f"http://127.0.0.1:{BRIDGE_PORT}"
            env.update(HTTPS_PROXY=url, HTTP_PROXY=url, https_proxy=url, http_proxy=url, NO_PROXY="", no_proxy="")
        for folder in emptied:
            # Read-only last: the binds above need their mount points made in it first.
            args += ["--remount-ro", folder]
        for key, value in env.items():
            args += ["--setenv", key, value]
        args += ["--chdir", str(rooms.cwd)]
        runner: tuple[str, ...] = ()
        if c.network == "allowlist" and self.proxy is not None:
            # The cell's only way out: a loopback port inside, relayed to the proxy's socket.
            runner = (self.python, "-m", "conscious.delegate.bridge", str(self.proxy), str(BRIDGE_PORT), "--")
        return Cell(tuple(args), runner, walled=True)


def sandbox_for(config: SandboxConfig, *, proxy: Path | None = None) -> Sandbox:
    return Unwalled() if config.mode == "off" else Bubblewrap(config, proxy=proxy)


@functools.cache
def _trial(binary: str) -> str | None:
    """bubblewrap installed is not bubblewrap allowed: user namespaces may be off (a sysctl,
    AppArmor on Ubuntu 24.04). One real run tells."""
    try:
        out = subprocess.run(
            [binary, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--proc", "/proc", "--", "true"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not run: {exc}"
    if out.returncode != 0:
        said = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit code {out.returncode}"
        return (
            f"bubblewrap cannot make a sandbox here ({said}): unprivileged user namespaces are probably off"
            " (`sudo sysctl -w kernel.unprivileged_userns_clone=1`, or on Ubuntu"
            " `kernel.apparmor_restrict_unprivileged_userns=0`), or set sandbox.mode = 'off'"
        )
    return None


def _home(home: Path, skip: set[Path]) -> list[str]:
    """The home as a fresh, writable tmpfs holding read-only views of what is in yours: the
    agent reads your tools and settings, cannot change any of them, and whatever it creates in
    its home (a CLI's first-run config, a cache) is gone with the cell. Listed in ``skip``:
    what it must not see at all, or gets its own copy of."""
    if not home.is_dir() or home == Path("/") or home.is_relative_to("/tmp"):
        return []
    args = ["--tmpfs", str(home)]
    for entry in sorted(home.iterdir()):
        if entry in skip:
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), str(entry)]
        else:
            args += ["--ro-bind", str(entry), str(entry)]
    return args


def _runtime(python: str) -> list[Path]:
    """What the cell's own helpers (the bridge, the gate's hook) run on — this Python and this
    package — kept readable even when hidden with the rest (a daemon run from a virtual
    environment inside the checkout it watches)."""
    package = Path(__file__).resolve().parents[1]
    found = {Path(sys.prefix), Path(sys.base_prefix), Path(python).parent.parent, package}
    return sorted(p for p in found if p.is_dir())


def _expand(path: str, home: Path) -> Path:
    return home / path[2:] if path.startswith("~/") else Path(path)


def _outermost(paths: Sequence[Path]) -> list[Path]:
    """Each path once, none inside another of them (hiding a folder hides what is in it)."""
    unique = sorted({Path(os.path.abspath(p)) for p in paths}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def _copy_once(source: Path, copy: Path) -> bool:
    """The task's own copy of ``source`` (made once: a retry continues with it); False when
    there is nothing to give it a copy of."""
    if copy.exists() or copy.is_symlink():
        return True
    if not source.exists():
        return False
    copy.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        # The files at its top only: a login and settings, not months of sessions and caches.
        copy.mkdir()
        for item in source.iterdir():
            if item.is_file() and not item.is_symlink():
                shutil.copy2(item, copy / item.name)
    else:
        shutil.copy2(source, copy)
    return True
