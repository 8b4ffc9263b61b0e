"""`conscious run`: the daemon in the foreground; `conscious stop`: as Ctrl-C would, from
elsewhere; `conscious page`: its live page."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from conscious.api.token import read_token
from conscious.cli.client import DaemonClient
from conscious.cli.common import ConfigOpt, HomeOpt, app, err, friendly, out
from conscious.config import ClusterConfig, Config
from conscious.errors import ConfigError, ConsciousError
from conscious.paths import Paths
from conscious.system.lock import daemon_pid, daemon_running


@app.command()
@friendly
def run(
    watch: Annotated[
        list[Path] | None, typer.Option("--watch", "-w", help="Folder to watch (repeatable; default: current folder).")
    ] = None,
    llm_url: Annotated[
        str | None, typer.Option("--llm-url", help="OpenAI-compatible base URL, e.g. http://localhost:1234/v1")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model id (default: what the server has loaded).")
    ] = None,
    context_length: Annotated[
        int | None, typer.Option("--context-length", help="Override the model's context length.")
    ] = None,
    system_prompt: Annotated[
        Path | None, typer.Option("--system-prompt", help="File replacing the default system prompt.")
    ] = None,
    model_path: Annotated[Path | None, typer.Option("--model-path", help="GGUF file for the embedded server.")] = None,
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run/--no-dry-run", help="Decide, but start no delegation.")
    ] = None,
    log_level: Annotated[str | None, typer.Option("--log-level")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live output.")] = False,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="On several machines: observer, brain or worker (repeatable; needs --broker)."),
    ] = None,
    broker: Annotated[
        list[str] | None, typer.Option("--broker", help="NATS server URL, e.g. nats://broker.lan:4222 (repeatable).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="This machine's name in the cluster.")] = None,
    home: HomeOpt = None,
    config_file: ConfigOpt = None,
) -> None:
    """Run the orchestrator: observe, decide, delegate — until Ctrl-C. With --role, one part of
    it on several machines (docs/cluster.md)."""
    from conscious.daemon.serve import serve

    paths = Paths.resolve(home)
    config = Config.load(
        paths,
        config_file,
        watch=[p.expanduser().resolve() for p in watch] if watch else None,
        llm_url=llm_url,
        model=model,
        context_length=context_length,
        system_prompt_file=system_prompt,
        model_path=model_path,
        dry_run=dry_run,
        log_level=log_level.upper() if log_level else None,
    )
    given = {"roles": role, "broker": broker, "host": host}
    if any(given.values()):
        try:
            config.cluster = ClusterConfig.model_validate(
                {**config.cluster.model_dump(), **{k: v for k, v in given.items() if v}}
            )
        except ValidationError as exc:
            raise ConfigError(f"--role: {exc.errors()[0]['msg']}") from None
    import asyncio  # here: every other command would pay for them

    from conscious.control.terminal import Terminal

    try:
        asyncio.run(serve(config, paths, Terminal(quiet=quiet)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("conscious: interrupted")
        raise typer.Exit(130) from None


@app.command()
@friendly
def stop(
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for it to stop.")] = 60.0,
    home: HomeOpt = None,
) -> None:
    """Stop the daemon running on this home, as Ctrl-C would: the thought under way is handed back
    (its observations stay pending) and running delegations get their grace period to finish."""
    paths = Paths.resolve(home)
    pid = daemon_pid(paths.journal)
    if pid is None:
        if daemon_running(paths.journal):
            raise ConsciousError(
                f"a daemon runs on {paths.journal} but did not write its pid (an older conscious): stop it with Ctrl-C"
            )
        out.print(f"no daemon is running on {paths.journal}")
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        out.print(f"no daemon is running on {paths.journal}")  # it stopped meanwhile
        return
    except PermissionError:
        raise ConsciousError(f"the daemon on {paths.journal} (pid {pid}) belongs to another user") from None
    deadline = time.monotonic() + wait
    while daemon_running(paths.journal):
        if time.monotonic() > deadline:
            raise ConsciousError(
                f"the daemon (pid {pid}) is still stopping after {wait:.0f}s; `conscious status` says when"
            )
        time.sleep(0.1)
    out.print(f"stopped the daemon (pid {pid})")


@app.command()
@friendly
def page(
    home: HomeOpt = None,
    open_it: Annotated[bool, typer.Option("--open", help="Open it in the default browser.")] = False,
) -> None:
    """The live page's address, with its token, while a daemon runs."""
    paths = Paths.resolve(home)
    client = DaemonClient.find(paths)
    if client is None:
        raise ConsciousError(f"no daemon with a control API runs on {paths.journal}: start `conscious run`")
    with client:
        token = read_token(paths.state_dir)
        url = f"{client.url}/#token={token}"
    print(url)
    if open_it:
        import webbrowser

        if not webbrowser.open(url):
            err.print("conscious: no browser found here: open the address above in one")
            raise typer.Exit(1)
