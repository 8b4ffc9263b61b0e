"""The CLI's way to a running daemon: its control API, found through the journal.

A daemon publishes its API address in the journal; the token is in the state directory.
When no daemon runs, or its API does not answer, the CLI reads and writes the journal
directly (``ApiUnavailable`` tells it to), so every command works either way.
"""

from __future__ import annotations

import logging
from typing import Any

from conscious.api.token import read_token
from conscious.errors import ApiUnavailable, ConsciousError
from conscious.journal import Journal
from conscious.paths import Paths
from conscious.system.lock import daemon_running

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
    def find(cls, paths: Paths, journal: Journal | None = None) -> DaemonClient | None:
        """The running daemon's API, if one runs on this home's journal and serves one
        (``journal``: that journal, when the caller has it open already)."""
        if not paths.journal.exists() or not daemon_running(paths.journal):
            return None
        token = read_token(paths.state_dir)
        if token is None:
            return None
        reader = journal or Journal(paths.journal)
        try:
            url = reader.identity().get("daemon", {}).get("api_url")
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


def through_daemon(paths: Paths, method: str, path: str, body: dict[str, Any] | None = None) -> Any | None:
    """The running daemon's answer to one call, or None when no daemon answers (the caller then
    uses the journal itself)."""
    client = DaemonClient.find(paths)
    if client is None:
        return None
    with client:
        try:
            return client.get(path) if method == "GET" else client.post(path, body)
        except ApiUnavailable:
            return None
