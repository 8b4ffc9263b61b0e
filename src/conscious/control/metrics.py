"""Prometheus metrics, fed by the live event stream (``events.py``) so they count exactly
what the terminal and the page show. Levels (context fill, pending observations, running
tasks, health) are read when scraped rather than kept up to date on every change.

Each daemon has its own registry: several in one process (the tests) never mix their counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from conscious.control.events import Event

LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, float("inf"))
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, float("inf"))


CLUSTER_LEVELS = {
    "broker_connected": "1 while this process is connected to the broker.",
    "leads": "1 while this brain leads the cluster.",
    "log_position": "The last entry of the cluster's decision log read here.",
    "observations_sent": "This host's observations the broker acknowledged (since start).",
    "outbox_backlog": "This host's observations not yet acknowledged by the broker.",
    "observations_taken": "Observations from other hosts journaled here (since start).",
    "tasks_running": "Cluster tasks running on this worker, or out on workers (a brain).",
    "tasks_started": "Cluster tasks this worker started (since start).",
}
"""The levels of the roles on several machines (``conscious_cluster_<name>{role}``)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.observations = Counter(
            "conscious_observations", "Observations journaled, by source.", ["source", "severity"], registry=r
        )
        self.decisions = Counter(
            "conscious_decisions",
            "Decisions, by what was done and the gate's verdict.",
            ["action", "verdict", "origin"],
            registry=r,
        )
        self.latency = Histogram(
            "conscious_decision_latency_seconds",
            "Time to a decision from the model.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "conscious_time_to_first_token_seconds",
            "Time to the first piece of the model's reply (mostly prompt processing).",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.prompt_tokens = Counter(
            "conscious_prompt_tokens",
            "Prompt tokens of the model's decisions: processed (paid for) or served from the server's cache.",
            ["kind"],
            registry=r,
        )
        self.delegations = Counter(
            "conscious_delegations", "Delegations finished, by agent and outcome.", ["agent", "outcome"], registry=r
        )
        self.started = Counter("conscious_delegations_started", "Delegations started, by agent.", ["agent"], registry=r)
        self.tool_calls = Counter(
            "conscious_tool_calls",
            "Agents' tool calls the gate judged, by agent and verdict.",
            ["agent", "verdict"],
            registry=r,
        )
        self.spend = Counter(
            "conscious_spend_usd", "What the agents reported spending, in US dollars.", ["agent"], registry=r
        )
        self.context_fill = Gauge("conscious_context_fill_ratio", "Share of the context budget in use.", registry=r)
        self.context_tokens = Gauge("conscious_context_tokens", "Context window tokens.", ["kind"], registry=r)
        self.pending = Gauge("conscious_pending_observations", "Observations not decided yet.", registry=r)
        self.running = Gauge("conscious_running_delegations", "Delegations running now.", registry=r)
        self.healthy = Gauge("conscious_health_check", "1 when the health check passes.", ["check"], registry=r)
        self.subscribers = Gauge("conscious_live_subscribers", "Clients reading the live stream.", registry=r)
        self.cluster_levels = {
            name: Gauge(f"conscious_cluster_{name}", text, ["role"], registry=r)
            for name, text in CLUSTER_LEVELS.items()
        }
        self._checks: Callable[[], dict[str, dict[str, Any]]] = dict

    def on_event(self, event: Event) -> None:
        d = event.data
        if event.type == "observation":
            self.observations.labels(d.get("source", "?"), d.get("severity", "info")).inc()
        elif event.type == "decision":
            self.decisions.labels(d["action"], d["verdict"], d["origin"]).inc()
            if d.get("latency_ms") is not None and d["origin"] not in ("rule", "code"):
                self.latency.observe(d["latency_ms"] / 1000)
            if d.get("first_token_ms") is not None:
                self.first_token.observe(d["first_token_ms"] / 1000)
            cached = d.get("cached_tokens") or 0
            if d.get("prompt_tokens") is not None:
                self.prompt_tokens.labels("processed").inc(max(0, d["prompt_tokens"]))
                self.prompt_tokens.labels("cached").inc(max(0, cached))
        elif event.type == "tool":
            self.tool_calls.labels(d["agent"], "allowed" if d["allowed"] else "denied").inc()
        elif event.type == "task":
            if d["what"] == "started":
                self.started.labels(d["agent"]).inc()
            elif d["what"] == "finished":
                self.delegations.labels(d["agent"], d.get("state", "?")).inc()
                if d.get("cost_usd"):
                    self.spend.labels(d["agent"]).inc(d["cost_usd"])

    def cluster(self, role: str, levels: Mapping[str, Callable[[], float]]) -> None:
        """A role's levels on several machines (``CLUSTER_LEVELS``), read at scrape time."""
        for name, read in levels.items():
            self.cluster_levels[name].labels(role).set_function(lambda read=read: float(read()))  # type: ignore[misc]

    def levels(
        self,
        *,
        used: Callable[[], int],
        budget: Callable[[], int],
        pending: Callable[[], int],
        running: Callable[[], int],
        subscribers: Callable[[], int],
        checks: Callable[[], dict[str, dict[str, Any]]],
    ) -> None:
        """Where the levels are read from at scrape time."""
        self._checks = checks
        self.context_fill.set_function(lambda: used() / max(1, budget()))
        self.context_tokens.labels("used").set_function(lambda: float(used()))
        self.context_tokens.labels("budget").set_function(lambda: float(budget()))
        self.pending.set_function(lambda: float(pending()))
        self.running.set_function(lambda: float(running()))
        self.subscribers.set_function(lambda: float(subscribers()))

    def render(self) -> bytes:
        for name, check in self._checks().items():
            self.healthy.labels(name).set(1 if check["ok"] else 0)
        return generate_latest(self.registry)
