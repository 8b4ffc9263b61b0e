"""The gate at every tool call an agent makes: the same plain code as for delegations, applied
to what the agent actually does. Pure functions, no I/O.

A call is refused when it would reach outside the task's worktree (a file tool's path, a
shell word, a ``cd``), destroy (recursive delete, ``reset --hard``, history rewrites, disk
tools), skip verification (``--no-verify``), push or force-push, touch credentials, or send
data off the machine. A shell command that cannot be read is refused too: when in doubt, no.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conscious.gate.policy import DEFAULT_DENY

FILE_TOOLS = ("Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "NotebookRead", "Glob", "Grep", "LS")
PATH_KEYS = ("file_path", "notebook_path", "path")
SHELL_TOOLS = ("Bash",)

CREDENTIALS = re.compile(
    r"(^|/)\.(ssh|aws|gnupg|netrc|git-credentials|kube|docker/config\.json|config/gh|config/gcloud|pypirc|npmrc)(/|$)"
    r"|(^|/)id_(rsa|ed25519|ecdsa|dsa)\b|\.(pem|key|p12|pfx)$|(^|/)\.env$|(^|/)\.env\.(local|prod\w*)$"
    r"|(^|/)credentials(\.json)?$|^/etc/(shadow|gshadow|sudoers)|(^|/)\.claude/\.credentials\.json$",
    re.IGNORECASE,
)
READABLE_OUTSIDE = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt", "/etc", "/dev")
"""System folders a shell command may name to read from (never to write to)."""
WRITABLE_OUTSIDE = ("/dev/null", "/dev/stdout", "/dev/stderr")
OPERATORS = {";", "&&", "||", "|", "&", "|&", "\n", "(", ")"}
REDIRECTS = {">", ">>", "&>", ">&", "<", "<<", "<<<", ">|"}
WRAPPERS = {"nohup", "time", "nice", "ionice", "timeout", "command", "builtin", "exec", "stdbuf"}
"""Words that run the rest of the line as a command."""
WRITERS = {"cp", "mv", "tee", "ln", "install", "rm", "rmdir", "touch", "mkdir", "chmod", "chown", "rsync", "unlink"}
NEVER = {
    "sudo": "runs as root",
    "su": "runs as another user",
    "doas": "runs as root",
    "dd": "writes raw disks",
    "shred": "destroys files beyond recovery",
    "wipefs": "wipes disks",
    "shutdown": "stops the machine",
    "reboot": "restarts the machine",
    "halt": "stops the machine",
    "poweroff": "stops the machine",
    "killall": "kills processes by name",
    "pkill": "kills processes by name",
    "nc": "opens raw network connections",
    "ncat": "opens raw network connections",
    "netcat": "opens raw network connections",
    "socat": "opens raw network connections",
    "telnet": "opens raw network connections",
    "ssh": "connects to another machine",
    "scp": "copies to another machine",
    "sftp": "copies to another machine",
    "crontab": "installs jobs that outlive the task",
}
GIT_NEVER = {
    "push": "pushes (the branch is merged by you, locally)",
    "filter-branch": "rewrites history",
    "filter-repo": "rewrites history",
    "rebase": "rewrites history",
    "reflog": "rewrites history",
    "update-ref": "moves references directly",
    "gc": "prunes objects",
    "worktree": "manages worktrees (conscious does)",
    "remote": "changes remotes",
    "credential": "reads credentials",
}
UPLOADS = re.compile(r"^(-d|--data\S*|-F|--form\S*|-T|--upload-file|--post-data|--post-file|-X|--request|--method)")


@dataclass(frozen=True)
class ToolCall:
    tool: str
    input: Mapping[str, Any]

    def text(self) -> str:
        """``Tool: what it does`` — what a user's rule is matched on."""
        if self.tool in SHELL_TOOLS:
            return f"{self.tool}: {self.input.get('command', '')}"
        for key in PATH_KEYS:
            if isinstance(self.input.get(key), str):
                return f"{self.tool}: {self.input[key]}"
        return f"{self.tool}: {self.input}"


@dataclass(frozen=True)
class ToolVerdict:
    allowed: bool
    reason: str


ALLOW = ToolVerdict(True, "allowed")


def _deny(reason: str) -> ToolVerdict:
    return ToolVerdict(False, reason)


@dataclass(frozen=True)
class ToolPolicy:
    deny: tuple[str, ...] = ()
    """The user's own rules (regular expressions on ``Tool: input``): refused."""
    allow: tuple[str, ...] = ()
    """The user's own rules: allowed, whatever the built-in rules say."""
    paths: tuple[str, ...] = ()
    """Folders outside the worktree the tools may use too."""

    def judge(self, call: ToolCall, root: str) -> ToolVerdict:
        """May the agent working in ``root`` (its worktree) make this call?"""
        text = call.text()
        for pattern in self.deny:
            if re.search(pattern, text, flags=re.IGNORECASE):
                return _deny(f"your rule {pattern!r}")
        for pattern in self.allow:
            if re.search(pattern, text, flags=re.IGNORECASE):
                return ToolVerdict(True, f"your rule {pattern!r}")
        if call.tool in SHELL_TOOLS:
            command = call.input.get("command")
            if not isinstance(command, str):
                return _deny("a shell call without a command")
            return self.shell(command, root)
        if call.tool in FILE_TOOLS:
            for key in PATH_KEYS:
                value = call.input.get(key)
                if isinstance(value, str) and value:
                    return self.path(value, root, write=call.tool not in ("Read", "NotebookRead", "Glob", "Grep", "LS"))
        return ALLOW

    def path(self, value: str, root: str, *, write: bool) -> ToolVerdict:
        full = _resolve(value, root)
        if CREDENTIALS.search(full):
            return _deny(f"{value} holds credentials")
        if _within(full, (root, *self.paths)):
            return ALLOW
        if not write and _within(full, READABLE_OUTSIDE) and not full.startswith("/etc/ssh"):
            return ALLOW
        if _within(full, WRITABLE_OUTSIDE):
            return ALLOW
        return _deny(f"{value} is outside the task's worktree ({root})")

    def shell(self, command: str, root: str) -> ToolVerdict:
        if "--no-verify" in command:
            return _deny("skips verification (--no-verify)")
        try:
            lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
            lexer.whitespace_split = True
            words = list(lexer)
        except ValueError as exc:
            return _deny(f"cannot read the command ({exc})")
        for segment in _segments(words):
            verdict = self._simple(segment, root)
            if not verdict.allowed:
                return verdict
        # Last, the delegation's own deny rules over the whole line (what the words above miss:
        # `$(…)`, backticks, pipes into a shell).
        for pattern in DEFAULT_DENY:
            if re.search(pattern, command, flags=re.IGNORECASE):
                return _deny(f"matches the deny rule {pattern!r}")
        return ALLOW

    def _simple(self, words: Sequence[str], root: str) -> ToolVerdict:
        """One simple command (no operators), with its redirections."""
        args = list(words)
        while args and (("=" in args[0] and not args[0].startswith(("-", "/", "."))) or args[0] in WRAPPERS):
            args.pop(0)  # VAR=value assignments and wrappers: the command is what follows
        if not args:
            return ALLOW
        name = posixpath.basename(args[0])
        redirected = [args[i + 1] for i, w in enumerate(args[:-1]) if w in REDIRECTS and w != "<"]
        for target in redirected:
            if not target.startswith("&") and not (v := self.path(target, root, write=True)).allowed:
                return v
        if name in NEVER:
            return _deny(f"{name} {NEVER[name]}")
        if name in ("bash", "sh", "zsh", "dash", "eval") and (inner := _inline_script(args)) is not None:
            return self.shell(inner, root)
        if name == "rm" and any(re.fullmatch(r"-[a-zA-Z]*[rR][a-zA-Z]*|--recursive", a) for a in args[1:]):
            return _deny("deletes recursively")
        if name == "find" and any(a in ("-delete", "-exec", "-execdir", "-ok") for a in args):
            return _deny("find that deletes or runs commands")
        if name in ("chmod", "chown") and any(a in ("-R", "--recursive") for a in args):
            return _deny(f"{name} -R changes a whole tree")
        if name.startswith("mkfs") or name in ("fdisk", "parted", "mount", "umount"):
            return _deny(f"{name} changes disks")
        if name == "git" and not (v := self._git(args[1:], root)).allowed:
            return v
        if name in ("curl", "wget") and (upload := next((a for a in args if UPLOADS.match(a)), None)):
            return _deny(f"{name} {upload} sends data off the machine")
        if name == "rsync" and any(re.match(r"^[\w.-]+(@[\w.-]+)?:", a) for a in args[1:]):
            return _deny("rsync to another machine")
        if name == "cd" and len(args) > 1 and not (v := self.path(args[1], root, write=True)).allowed:
            return v
        write = name in WRITERS
        for word in args[1:]:
            if _pathlike(word) and not (v := self.path(word, root, write=write)).allowed:
                return v
            if CREDENTIALS.search(word):
                return _deny(f"{word} holds credentials")
        return ALLOW

    def _git(self, args: Sequence[str], root: str) -> ToolVerdict:
        rest = list(args)
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if option in ("-C", "--git-dir", "--work-tree") and rest:
                if not (v := self.path(rest.pop(0), root, write=True)).allowed:
                    return v
            elif option == "-c" and rest:
                rest.pop(0)
        if not rest:
            return ALLOW
        sub, flags = rest[0], rest[1:]
        if sub in GIT_NEVER:
            return _deny(f"git {sub} {GIT_NEVER[sub]}")
        if sub == "reset" and "--hard" in flags:
            return _deny("git reset --hard throws work away")
        if sub == "clean" and any(re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*|--force", f) for f in flags):
            return _deny("git clean -f deletes untracked files")
        if sub == "commit" and any(re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", f) for f in flags if not f.startswith("--")):
            return _deny("git commit -n skips verification")
        if sub in ("branch", "tag") and any(f in ("-D", "-d", "--delete", "-f", "--force") for f in flags):
            return _deny(f"git {sub} deletes or moves references")
        if sub == "config" and any(f in ("--global", "--system") for f in flags):
            return _deny("git config outside the repository")
        if sub in ("checkout", "switch") and any(f in ("-f", "--force", "--discard-changes") for f in flags):
            return _deny(f"git {sub} --force throws work away")
        return ALLOW


def call_of(payload: Mapping[str, Any]) -> ToolCall | None:
    """The tool call in a PreToolUse hook's input, or None when it has none."""
    tool, tool_input = payload.get("tool_name"), payload.get("tool_input")
    return ToolCall(tool, tool_input) if isinstance(tool, str) and isinstance(tool_input, dict) else None


def _segments(words: Sequence[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in words:
        if word in OPERATORS or (word and set(word) <= set(";&|()")):
            out.append([])
        else:
            out[-1].append(word)
    return [s for s in out if s]


def _inline_script(args: Sequence[str]) -> str | None:
    if posixpath.basename(args[0]) == "eval":
        return " ".join(args[1:])
    for i, arg in enumerate(args[1:-1], start=1):
        if re.fullmatch(r"-[a-zA-Z]*c", arg):
            return args[i + 1]
    return None


def _pathlike(word: str) -> bool:
    if "://" in word or word.startswith("-"):
        return False
    return word.startswith(("/", "~")) or ".." in word.split("/")


def _resolve(value: str, root: str) -> str:
    if value.startswith("~"):
        return "/home/~" + value[1:]  # a home directory is never inside a worktree
    return posixpath.normpath(posixpath.join(root, value))


def _within(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots if r)
