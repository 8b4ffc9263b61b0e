"""What the user sees live in the terminal while the daemon runs (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from conscious.delegate.base import Outcome
from conscious.delegate.policy import Verdict
from conscious.model import Decision, Observation, Task

_SEVERITY_STYLE = {"debug": "dim", "info": "cyan", "warning": "yellow", "error": "red", "critical": "bold red"}
_ACTION_STYLE = {"delegate": "bold green", "observe": "blue", "reflect": "magenta"}


class Reporter:
    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.quiet = quiet

    def _print(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, soft_wrap=True)

    def info(self, text: str) -> None:
        self._print(f"[bold]●[/] {escape(text)}")

    def warn(self, text: str) -> None:
        self._print(f"[yellow]▲ {escape(text)}[/]")

    def observation(self, obs: Observation) -> None:
        if obs.source == "clock" and obs.event_type == "heartbeat":
            return
        style = _SEVERITY_STYLE.get(obs.severity, "")
        self._print(f"[{style}]◇ {escape(obs.source)}/{escape(obs.event_type)}[/] {escape(obs.target)}")

    def decision(
        self,
        decision_id: int,
        decision: Decision,
        verdict: Verdict,
        *,
        covers: int,
        latency_ms: float | None,
        origin: str,
    ) -> None:
        style = _ACTION_STYLE.get(verdict.action, "")
        head = f"[{style}]◆ #{decision_id} {verdict.action}[/]"
        if verdict.action == "delegate":
            head += f" → {escape(decision.target_agent or '')}: {escape((decision.command or '')[:120])}"
        elif verdict.label != "accepted":
            head += f" [dim](proposed {decision.action_type}: {escape(verdict.reason)})[/]"
        timing = f"{latency_ms / 1000:.1f}s" if latency_ms is not None else origin
        self._print(f"{head} [dim]({covers} obs, conf {decision.confidence:.2f}, {timing})[/]")
        self._print(f"  [dim]{escape(decision.reasoning[:200])}[/]")

    def task(self, what: str, task: Task, outcome: Outcome | None) -> None:
        if outcome is None:
            self._print(f"[green]▶ task #{task.id} {escape(task.agent)} {what}[/]")
            return
        style = "green" if outcome.state == "succeeded" else "red"
        cost = f" ${outcome.cost_usd:.4f}" if outcome.cost_usd is not None else ""
        self._print(
            f"[{style}]■ task #{task.id} {escape(task.agent)} {outcome.state}{cost}:[/] {escape(outcome.result[:160])}"
        )
