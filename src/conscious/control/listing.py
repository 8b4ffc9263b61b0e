"""What one page of a list asks for: the API's query strings and the CLI's reads, one shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conscious.journal import Kind


@dataclass(frozen=True)
class Listing:
    """One page of observations, decisions or tasks, as the API's query and the CLI ask for it."""

    kind: Kind
    limit: int = 50
    before: int | None = None
    after: int | None = None
    routine: bool = True
    """With the routine decisions (rules that needed no judgement)."""
    filters: dict[str, Any] = field(default_factory=dict)
    """Column → value (None: any)."""

    def query(self) -> dict[str, Any]:
        """As the API's query string (``None``: left out)."""
        asked = {"limit": self.limit, "before": self.before, "after": self.after, **self.filters}
        return asked | ({"routine": self.routine} if self.kind == "decisions" else {})
