"""What the user sees live in the terminal while the daemon runs (rich): a ``Reporter``.

``events.Broadcast`` wraps it to publish the same reports on the live stream (API, page,
metrics, logs); ``waiting`` (a spinner) is the terminal's own, for the daemon's start-up."""

from __future__ import annotations

import contextlib
from typing import Any

from rich.console import Console
from rich.markup import escape

from conscious.delegate.base import Outcome
from conscious.model import DecisionRecord, Observation, Task

_SEVERITY_STYLE = {"debug": "dim", "info": "cyan", "warning": "yellow", "error": "red", "critical": "bold red"}
_ACTION_STYLE = {"delegate": "bold green", "observe": "blue", "reflect": "magenta"}


class Terminal:
    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.quiet = quiet

    def _print(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, soft_wrap=True)

    def waiting(self, text: str) -> contextlib.AbstractContextManager[object]:
        """A spinner with ``text`` while something slow happens; one plain line when not on a terminal."""
        if self.quiet or not self.console.is_terminal:
            self.info(text)
            return contextlib.nullcontext()
        return self.console.status(text, spinner="dots")

    def info(self, text: str) -> None:
        self._print(f"[bold]●[/] {escape(text)}")

    def warn(self, text: str) -> None:
        self._print(f"[yellow]▲ {escape(text)}[/]")

    def observation(self, obs: Observation) -> None:
        if obs.source == "clock" and obs.event_type == "heartbeat":
            return
        style = _SEVERITY_STYLE.get(obs.severity, "")
        self._print(f"[{style}]◇ {escape(obs.source)}/{escape(obs.event_type)}[/] {escape(obs.target)}")

    def decision(self, decision_id: int, record: DecisionRecord) -> None:
        if record.origin == "rule":
            return  # routine: `conscious log --all` lists them
        decision, action = record.decision, record.action
        style = _ACTION_STYLE.get(action, "")
        head = f"[{style}]◆ #{decision_id} {action}[/]"
        if action == "delegate":
            head += f" → {escape(decision.target_agent or '')}: {escape((decision.command or '')[:120])}"
        elif record.verdict != "accepted":
            head += f" [dim](proposed {decision.action_type}: {escape(record.verdict_reason or '')})[/]"
        timing = f"{record.latency_ms / 1000:.1f}s" if record.latency_ms is not None else record.origin
        self._print(f"{head} [dim]({len(record.covers)} obs, conf {decision.confidence:.2f}, {timing})[/]")
        self._print(f"  [dim]{escape(decision.reasoning[:200])}[/]")

    def thinking(self, turn: int, observations: list[int]) -> None:
        """A thought begins (the terminal shows only its decision)."""

    def streamed(self, turn: int, text: str) -> None:
        """A piece of the thought being streamed (only the live stream shows it)."""

    def tool_call(self, task: Task, call: str, allowed: bool, reason: str) -> None:
        if not allowed:
            self._print(f"[red]✗ {escape(task.agent)}#{task.id} refused: {escape(call[:100])}[/] — {escape(reason)}")

    def approval(self, what: str, request: dict[str, Any]) -> None:
        if what == "requested":
            n = request.get("id")
            self._print(
                f"[yellow]? approval #{n} waits: {escape(str(request.get('agent')))}: "
                f"{escape(str(request.get('command'))[:100])}[/] (`conscious approve {n}` or `conscious deny {n}`)"
            )

    def health(self, status: str, checks: dict[str, Any]) -> None:
        if status != "ok":
            bad = "; ".join(f"{k}: {v['detail']}" for k, v in checks.items() if not v["ok"])
            self._print(f"[yellow]▲ health {escape(status)}: {escape(bad)}[/]")
        else:
            self._print("[bold]●[/] health ok")

    def task(self, what: str, task: Task, outcome: Outcome | None) -> None:
        if outcome is None:
            self._print(f"[green]▶ task #{task.id} {escape(task.agent)} {what}[/]")
            return
        style = "green" if outcome.state == "succeeded" else "red"
        cost = f" ${outcome.cost_usd:.4f}" if outcome.cost_usd is not None else ""
        self._print(
            f"[{style}]■ task #{task.id} {escape(task.agent)} {outcome.state}{cost}:[/] {escape(outcome.result[:160])}"
        )
