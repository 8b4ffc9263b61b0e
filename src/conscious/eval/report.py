"""The evaluation table: one column per arm, one row per measure."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from conscious.eval.score import Score


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value / 1000:.2f} s"


def _threshold(value: float | None) -> str:
    return "too few delegations" if value is None else f"{value:.1f}"


def _bin(score: Score, low: float) -> str:
    k, right = next((k, right) for lo, _, k, _, right in score.calibration() if lo == low)
    return "—" if not k else f"{_pct(right)} of {k}"


def table(scores: Sequence[Score]) -> Table:
    t = Table(title="decision quality")
    t.add_column("")
    for score in scores:
        t.add_column(score.label, justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("scenarios", [str(s.n) for s in scores]),
        ("the daemon: right in every respect", [_pct(s.system_rate) for s in scores]),
        ("the daemon: model calls", [str(s.model_calls) for s in scores]),
        ("schema-valid", [_pct(s.valid_rate) for s in scores]),
        ("action type right", [_pct(s.action_accuracy) for s in scores]),
        (
            "agent right (of delegations)",
            [f"{_pct(s.agent_accuracy)} of {s.summary()['delegations']}" for s in scores],
        ),
        ("priority high enough", [_pct(s.priority_accuracy) for s in scores]),
        ("the model alone: right in every respect", [_pct(s.right_rate) for s in scores]),
        ("latency p50", [_ms(s.latency(0.5)) for s in scores]),
        ("latency p90", [_ms(s.latency(0.9)) for s in scores]),
        (
            "tokens per decision",
            ["—" if (v := s.tokens_per_decision) is None else f"{v:.0f}" for s in scores],
        ),
        ("confidence: calibration error", [_pct(s.calibration_error) for s in scores]),
        ("confidence: threshold it supports", [_threshold(s.supported_threshold) for s in scores]),
    ]
    for low, high, *_ in scores[0].calibration() if scores else []:
        rows.append((f"  right at confidence {low:.1f} to {high:.1f}", [_bin(s, low) for s in scores]))
    for name, cells in rows:
        t.add_row(name, *cells)
    return t
