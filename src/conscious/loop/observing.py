"""One observer fed into the journal, restarted with back-off whenever it fails (each failure
itself an observation): the daemon's loop and an observer host on several machines alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, MutableMapping

from conscious.loop.backoff import backoff
from conscious.model import Observation
from conscious.observe.base import Observer

log = logging.getLogger("conscious")


async def keep_observing(
    observer: Observer,
    accept: Callable[[Observation], object],
    failures: MutableMapping[str, int],
    reasons: MutableMapping[str, str] | None = None,
) -> None:
    """Until the observer has nothing more to watch (or is cancelled); ``failures`` keeps its
    failures in a row, by name, and ``reasons`` the last one's error, for the health checks."""
    count = 0
    while True:
        try:
            async for obs in observer.observe():
                accept(obs)
                count = failures[observer.name] = 0
            return  # nothing (more) to watch: done, not failed
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            count = failures[observer.name] = count + 1
            if reasons is not None:
                reasons[observer.name] = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
            log.exception("observer %s failed", observer.name)
            with contextlib.suppress(Exception):
                accept(
                    Observation(
                        source="system",
                        event_type="observer-failed",
                        target=observer.name,
                        severity="error",
                        details={"error": repr(exc)[:300], "failures": count},
                    )
                )
            await asyncio.sleep(backoff(count, 1.0))
