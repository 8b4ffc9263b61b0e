"""Instructions that ask to destroy: a person answers for them, whatever the approval mode
says for ordinary work. Words, not shell syntax: an agent is told in plain language, and a
plain-language instruction passes every command rule (``rm -rf`` is not how a model asks an
agent to delete a folder). Pure, no I/O."""

from __future__ import annotations

import re

_OBJECTS = (
    r"(director(y|ies)|folders?|files?|everything|all|branch(es)?|repo(sitor(y|ies))?|tests?|history|"
    r"database|tables?|columns?|commits?|tags?|stash|data|records|logs?|backups?|modules?|packages?|docs)"
)
CATALOGUE: tuple[tuple[str, str], ...] = (
    ("deletes", r"\b(delete|deleting|deletion|erase|erasing|wipe|wiping|purge|purging|destroy|nuke|obliterate)\w*\b"),
    ("removes", rf"\b(remove|removing|rm)\b(\s+\S+){{0,4}}?\s+{_OBJECTS}\b"),
    ("removes", r"\brm\s+-\w*[rf]"),
    ("drops", r"\b(drop|dropping|truncate|truncating)\b"),
    ("resets", r"\breset\b(\s+\S+){0,3}?\s*(--hard|hard|to\s+(origin|upstream|head))|\bhard[- ]reset\b"),
    ("forces", r"\bforce[- ]?push|\bpush\b.*(--force|-f\b|\bforce)|--force\b|\bforcefully\b|\bby force\b"),
    ("skips verification", r"--no-verify|\bno-verify\b"),
    (
        "skips verification",
        r"\b(skip|skipping|bypass|bypassing|disable|disabling|ignore|ignoring|without)\b(\s+\S+){0,4}?\s+"
        r"(verification|verif\w*|hooks?|pre-commit|checks?|ci|lint\w*|signing)\b",
    ),
    (
        "rewrites history",
        r"\brewrit\w+\b(\s+\S+){0,3}?\s+(git\s+)?history\b|\bfilter-(branch|repo)\b|\bsquash\w*\b|\b--amend\b"
        r"|\bamend\w*\b(\s+\S+){0,2}?\s+commits?\b|\brebase\w*\b",
    ),
    ("cleans untracked files", r"\bgit\s+clean\b"),
    ("overwrites", r"\boverwrit\w+\b(\s+\S+){0,3}?\s+(history|remote|main|master|everything|all)\b"),
)


def destroys(instruction: str) -> str | None:
    """What the instruction asks that destroys, quoted (``deletes: 'Delete'``), or None."""
    for what, pattern in CATALOGUE:
        if (m := re.search(pattern, instruction, flags=re.IGNORECASE)) is not None:
            return f"{what}: {m.group(0)[:60]!r}"
    return None
