"""The CLI's way to the daemon: ``Reached``, the ``Daemon`` facade through the control API
when a daemon runs and answers there, else through its journal.

A daemon publishes its API address in the journal; the token is in the state directory.
When no daemon runs, or its API does not answer, the CLI reads and writes the journal
directly (``ApiUnavailable`` tells it to), so every command works either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conscious.api.token import read_token
from conscious.control.facade import Answer, JournalDaemon, Listing, answered, journal_of
from conscious.errors import ApiUnavailable, ConsciousError
from conscious.paths import Paths
from conscious.system.lock import daemon_running

if TYPE_CHECKING:
    from conscious.control.facade import Answered

log = logging.getLogger("conscious")

TIMEOUT = 10.0


class DaemonClient:
    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT) -> None:
        # Imported here: `tell` with no daemon up (the journal takes it) never pays for httpx.
        import httpx

        self.url = url
        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, trust_env=False
        )

    @classmethod
    def find(cls, paths: Paths, journal: JournalDaemon | None = None) -> DaemonClient | None:
        """The running daemon's API, if one runs on this home's journal and serves one
        (``journal``: that journal, when the caller has it open already)."""
        if not paths.journal.exists() or not daemon_running(paths.journal):
            return None
        token = read_token(paths.state_dir)
        if token is None:
            return None
        reader = journal or journal_of(paths)
        try:
            url = reader.published().get("api_url")
        finally:
            if journal is None:
                reader.close()
        return cls(url, token) if url else None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            log.info("control API at %s unavailable (%r): using the journal", self.url, exc)
            raise ApiUnavailable(str(exc)) from None
        if response.status_code == 401:
            raise ConsciousError(f"the daemon at {self.url} refused the token (was api-token replaced?)")
        if response.is_error:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ConsciousError(str(detail)[:300])
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, json=body)


class Reached:
    """The daemon as the CLI reaches it: what the facade offers through the running daemon's
    API (live status, what is told, answers, worktrees), falling back call by call to its
    journal when no daemon answers; the journal's own reads (the log, the lists) always there."""

    def __init__(
        self, paths: Paths, *, make: bool = False, rules_file: Callable[[], Path] | None = None, api: bool = True
    ) -> None:
        """``make``: the journal made if there is none yet (else one line saying how to make it);
        ``api=False``: the journal alone."""
        self.paths = paths
        self.journal = JournalDaemon.at(paths) if make else journal_of(paths)
        self.journal.rules_file = rules_file
        self._client = DaemonClient.find(paths, self.journal) if api else None

    @property
    def live(self) -> bool:
        """Whether a running daemon answered (or has not failed to yet)."""
        return self._client is not None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self.journal.close()

    def __enter__(self) -> Reached:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any | None:
        if self._client is None:
            return None
        try:
            return self._client.get(path, **params) if method == "GET" else self._client.post(path, body)
        except ApiUnavailable:
            self._client.close()
            self._client = None  # gone: the journal from now on
            return None

    def status(self) -> dict[str, Any]:
        live: dict[str, Any] | None = self._api("GET", "/api/status")
        return live if live is not None else self.journal.status()

    def page(self, listing: Listing) -> dict[str, Any]:
        live: dict[str, Any] | None = self._api("GET", f"/api/{listing.kind}", **listing.query())
        return live if live is not None else self.journal.page(listing)

    def tell(self, text: str) -> int:
        live = self._api("POST", "/api/inbox", {"text": text})
        return int(live["id"]) if live is not None else self.journal.tell(text)

    def waiting(self) -> list[dict[str, Any]]:
        return self.journal.waiting()

    def answer(
        self, approval_id: int, given: Answer, *, reason: str | None, always: bool, pattern: str | None
    ) -> Answered:
        """The daemon answers, and keeps an ``always`` rule in the config file it runs with
        (``kept_in``); else the journal, in ``rules_file``."""
        verb = "approve" if given == "approved" else "deny"
        body = {"reason": reason, "always": always, "pattern": pattern}
        if (reply := self._api("POST", f"/api/approvals/{approval_id}/{verb}", body)) is not None:
            kept = Path(reply["kept_in"]) if reply.get("kept_in") else None
            return answered(reply["request"], reply["pattern"], reply["also"], kept)
        return self.journal.answer(approval_id, given, reason=reason, always=always, pattern=pattern)

    def worktree(self, task_id: int, action: str) -> dict[str, Any]:
        if action == "diff":
            live = self._api("GET", f"/api/tasks/{task_id}/diff")
        else:
            query = "?sensitive=true" if action == "merge-sensitive" else ""
            live = self._api("POST", f"/api/tasks/{task_id}/{action.removesuffix('-sensitive')}{query}")
        return live if live is not None else self.journal.worktree(task_id, action)
