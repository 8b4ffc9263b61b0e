"""How long to wait after failures in a row: one formula for every retry the loop makes
(a failing observer, an unwritable journal, an unreachable LLM server)."""

from __future__ import annotations

import random

BACKOFF_MAX = 30.0
"""Seconds: the longest wait between two attempts."""


def backoff(failures: int, base: float, *, doublings: int = 16, jitter: bool = False) -> float:
    """``base`` doubled per failure (at most ``doublings`` times), capped at ``BACKOFF_MAX``;
    ``jitter`` spreads it over its upper half, so that many waiters do not retry in step."""
    delay = min(BACKOFF_MAX, base * 2.0 ** min(failures, doublings))
    return delay * (0.5 + random.random() / 2) if jitter else delay
