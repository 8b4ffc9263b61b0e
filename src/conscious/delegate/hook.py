"""The hook Claude Code runs at each tool call:
``python -m conscious.delegate.hook EVENT WHERE TASK SECRET SECONDS``.

It reads the hook's JSON on stdin and answers as the CLI expects: nothing and exit 0 to go on
(the agent's own permission rules still apply), a ``permissionDecision: deny`` to refuse, and
exit 2 with a line on stderr when anything goes wrong — the only exit code Claude Code takes as
a refusal. ``WHERE`` is the daemon's control API (asked with the task's token, read from the
file ``SECRET``, in ``X-Conscious-Hook``), or ``local``: the hook judges by itself with the
policy in ``SECRET`` and leaves its verdict beside it for the daemon to book.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REFUSE = 2


def ask_daemon(url: str, task: str, secret: Path, seconds: float, event: str, payload: dict[str, Any]) -> Any:
    import httpx  # only here: the local mode needs no HTTP client

    response = httpx.post(
        f"{url}/api/hooks/{task}",
        json={"event": event, "payload": payload},
        headers={"X-Conscious-Hook": secret.read_text(encoding="utf-8").strip()},
        timeout=seconds,
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()


def judge_here(secret: Path, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    from conscious.gate.tools import ToolPolicy, ToolVerdict, call_of

    policy = json.loads(secret.read_text(encoding="utf-8"))
    call = call_of(payload)
    if event == "session-start":
        entry: dict[str, Any] = {"event": event}
        verdict = ToolVerdict(True, "armed")
    else:
        judge = ToolPolicy(tuple(policy["deny"]), tuple(policy["allow"]), tuple(policy["paths"]))
        verdict = judge.judge(call, policy["root"]) if call is not None else ToolVerdict(False, "no tool call")
        entry = {"tool": call.tool if call else "?", "input": dict(call.input) if call else {}}
    entry.update(allowed=verdict.allowed, reason=verdict.reason)
    # One write of one line with O_APPEND: concurrent hooks never interleave their lines.
    fd = os.open(secret.parent / "calls.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
    finally:
        os.close(fd)
    return {"allow": verdict.allowed, "reason": verdict.reason}


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: python -m conscious.delegate.hook EVENT WHERE TASK SECRET SECONDS", file=sys.stderr)
        return REFUSE
    event, where, task, secret, seconds = argv
    try:
        payload = json.loads(sys.stdin.read() or "{}")
        if where == "local":
            answer = judge_here(Path(secret), event, payload)
        else:
            answer = ask_daemon(where, task, Path(secret), float(seconds), event, payload)
        allowed, reason = answer["allow"], str(answer.get("reason", ""))
    except Exception as exc:  # fail closed, whatever it was
        print(f"conscious: the gate could not judge this call ({exc!r}): refused", file=sys.stderr)
        return REFUSE
    if allowed is True:
        return 0
    if event == "pre-tool-use":
        decision = {"hookEventName": "PreToolUse", "permissionDecision": "deny"}
        print(json.dumps({"hookSpecificOutput": {**decision, "permissionDecisionReason": f"conscious: {reason}"}}))
        return 0
    print(f"conscious: {reason}", file=sys.stderr)
    return REFUSE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
