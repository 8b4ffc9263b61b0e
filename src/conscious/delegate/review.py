"""What a person must see before a task's branch enters their checkout.

A merge brings the agent's files where your own tools run: a link to ``~/.ssh``, a
``.gitattributes`` naming a filter, a hook or agent setting, a CI or build file that runs on the
next build. ``held`` lists those changes of a branch; ``merge`` waits for a person while any is
listed (``conscious merge N --sensitive`` after reading ``conscious diff N``).
"""

from __future__ import annotations

import posixpath
import re

from conscious.system.git import Git

SENSITIVE = [
    (re.compile(r"(^|/)\.gitattributes$"), "git attributes (filters and diff drivers run by your git)"),
    (re.compile(r"(^|/)\.gitmodules$"), "submodules"),
    (re.compile(r"(^|/)\.claude(/|$)|(^|/)CLAUDE\.md$|(^|/)\.mcp\.json$"), "agent settings"),
    (re.compile(r"(^|/)\.(githooks|husky)/|(^|/)\.pre-commit-config\.ya?ml$"), "hooks"),
    (re.compile(r"(^|/)\.(github|gitlab|circleci|buildkite)/|(^|/)\.gitlab-ci\.yml$|(^|/)Jenkinsfile$"), "CI"),
    (
        re.compile(
            r"(^|/)(Makefile|GNUmakefile|setup\.py|setup\.cfg|pyproject\.toml|tox\.ini|noxfile\.py|conftest\.py"
            r"|package\.json|\.npmrc|\.envrc|Dockerfile|build\.rs|\.cargo/config(\.toml)?)$"
        ),
        "build configuration (runs when you build or test)",
    ),
    (re.compile(r"(^|/)\.vscode/|(^|/)\.idea/"), "editor tasks and settings"),
]
LINK, GITLINK = "120000", "160000"


def held(repo: Git, base: str, tip: str) -> list[str]:
    """``path: why`` for each change between ``base`` and ``tip`` a person must see first."""
    changed = [p for p in repo.run("diff", "--name-only", "--no-renames", "-z", f"{base}...{tip}").split("\0") if p]
    if not changed:
        return []
    modes: dict[str, tuple[str, str]] = {}
    for entry in repo.run("ls-tree", "-r", "-z", tip, "--", *changed).split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            mode, _, sha = meta.split(" ")
            modes[path] = (mode, sha)
    found = []
    for path in changed:
        mode, sha = modes.get(path, ("", ""))
        if mode == LINK:
            target = repo.run("cat-file", "blob", sha)
            if _escapes(path, target):
                found.append(f"{path}: a link out of the repository (→ {target})")
                continue
        if mode == GITLINK:
            found.append(f"{path}: a submodule commit")
            continue
        why = next((why for pattern, why in SENSITIVE if pattern.search(path)), None)
        if why is not None:
            found.append(f"{path}: {why}")
    return found


def _escapes(path: str, target: str) -> bool:
    if target.startswith(("/", "~")):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return resolved == ".." or resolved.startswith("../")
