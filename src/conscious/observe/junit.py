"""JUnit XML test reports (pytest ``--junitxml``, most CI tools) → one test-run observation."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from conscious.model import Observation

MAX_REPORT_BYTES = 20_000_000
FIRST_FAILURES = 3


def parse_junit(path: Path, text: str | None = None) -> Observation | None:
    """None when the file is not a JUnit report (then it is just a file change)."""
    try:
        if text is None:
            if path.stat().st_size > MAX_REPORT_BYTES:
                return None
            text = path.read_text(encoding="utf-8", errors="replace")
        if "<testsuite" not in text:
            return None
        root = ET.fromstring(text)
    except (OSError, ET.ParseError):
        return None
    if root.tag not in ("testsuite", "testsuites"):
        return None
    suites = list(root.iter("testsuite"))
    if not suites:
        return None
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failures: list[dict[str, Any]] = []
    # Each testcase once, wherever it sits: suites nest (Gradle, Jest, gotestsum), and a case
    # under a nested suite was counted once per suite above it.
    for case in root.iter("testcase"):
        totals["tests"] += 1
        for kind in ("failure", "error"):
            node = case.find(kind)
            if node is not None:
                totals["failures" if kind == "failure" else "errors"] += 1
                if len(failures) < FIRST_FAILURES:
                    name = ".".join(filter(None, [case.get("classname"), case.get("name")]))
                    message = (node.get("message") or node.text or "").strip().splitlines()
                    failures.append({"test": name, "message": message[0][:200] if message else ""})
        if case.find("skipped") is not None:
            totals["skipped"] += 1
    duration = 0.0
    for suite in suites:
        if suite.find("testsuite") is None:  # the innermost suites' times: an outer one sums them
            with contextlib.suppress(ValueError):
                duration += float(suite.get("time") or 0)
    failed = totals["failures"] + totals["errors"]
    details: dict[str, Any] = {
        **totals,
        "passed": totals["tests"] - failed - totals["skipped"],
        "time_s": round(duration, 3),
    }
    if failures:
        details["first_failures"] = failures
    return Observation(
        source="tests",
        event_type="failed" if failed else "passed",
        target=str(path),
        severity="error" if failed else "info",
        details=details,
    )
