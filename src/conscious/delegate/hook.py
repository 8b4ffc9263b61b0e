"""The hook Claude Code runs at each tool call: ``python -m conscious.delegate.hook EVENT URL TASK TOKEN_FILE SECONDS``.

It reads the hook's JSON on stdin, asks the daemon (``POST URL/api/hooks/TASK``, the task's
token in ``X-Conscious-Hook``) and answers as the CLI expects: nothing and exit 0 to go on
(the agent's own permission rules still apply), a ``permissionDecision: deny`` to refuse, and
exit 2 with a line on stderr when anything goes wrong — the only exit code Claude Code takes
as a refusal. Kept to the standard library and httpx: it runs once per tool call.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

REFUSE = 2


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print("usage: python -m conscious.delegate.hook EVENT URL TASK TOKEN_FILE SECONDS", file=sys.stderr)
        return REFUSE
    event, url, task, token_file, seconds = argv
    try:
        payload = json.loads(sys.stdin.read() or "{}")
        token = Path(token_file).read_text(encoding="utf-8").strip()
        response = httpx.post(
            f"{url}/api/hooks/{task}",
            json={"event": event, "payload": payload},
            headers={"X-Conscious-Hook": token},
            timeout=float(seconds),
            trust_env=False,
        )
        response.raise_for_status()
        answer = response.json()
        allowed, reason = answer["allow"], str(answer.get("reason", ""))
    except Exception as exc:  # fail closed, whatever it was
        print(f"conscious gate unreachable or refused the hook ({exc!r}): the call is refused", file=sys.stderr)
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
