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
HARMLESS_TOOLS = (
    "TodoWrite",
    "TodoRead",
    "Task",
    "Agent",
    "ExitPlanMode",
    "BashOutput",
    "KillShell",
    "KillBash",
    "SlashCommand",
    "Skill",
)
"""Tools that touch nothing outside the agent itself. Any other (WebFetch, an MCP server's
tool, one a new CLI version adds) is refused unless a rule of yours allows it."""
INTERPRETERS = re.compile(r"^(python[\d.]*|pypy[\d.]*|perl|ruby|node|nodejs|deno|bun|php|lua|tclsh|osascript)$")
SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "fish", "busybox"}
GIT_CONFIG_RUNS = re.compile(
    r"^(core\.(fsmonitor|hookspath|sshcommand|pager|editor|askpass|gitproxy|worktree)|alias\.|include|credential"
    r"|url\.|filter\.|diff\.|merge\.|http\.|remote\.|sequence\.editor|gpg\.)",
    re.IGNORECASE,
)
"""Git settings that run a command, or send or fetch data elsewhere, later."""

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
WRAPPERS = {"nohup", "time", "nice", "ionice", "timeout", "command", "builtin", "exec", "stdbuf", "env", "xargs"}
"""Words that run the rest of the line as a command (after their own options)."""
WRAPPER_VALUES = {"-n", "-c", "-k", "-s", "-u", "-I", "-P", "-d", "-L", "-E", "-a", "-o", "-e", "-i", "--signal"}
"""Options of those wrappers taking a value (``nice -n 5``, ``xargs -I {}``, ``env -u NAME``)."""
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
        if call.tool in HARMLESS_TOOLS:
            return ALLOW
        return _deny(f"{call.tool} is not a tool the gate knows (a rule of yours in tool_gate.allow can allow it)")

    def path(self, value: str, root: str, *, write: bool, here: str | None = None) -> ToolVerdict:
        """``value`` as a path from ``here`` (where the shell is; the worktree by default)."""
        full = _resolve(value, here or root)
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
        if "--no-verify" in command or re.search(r"--no-ver\b", command):
            return _deny("skips verification (--no-verify)")
        if unreadable := UNREADABLE.search(command):
            return _deny(
                f"{unreadable.group(0)!r}: the shell would make words the gate cannot read"
                " (refused here; the sandbox holds anyway)"
            )
        try:
            # Newlines separate commands as `;` does, and `#` starts a comment only where bash
            # says (the start of a word): shlex's own rules for both are not bash's.
            lexer = shlex.shlex(_home(command).replace("\n", " ; "), posix=True, punctuation_chars=";&|()<>")
            lexer.whitespace_split = True
            lexer.commenters = ""
            words = list(lexer)
        except ValueError as exc:
            return _deny(f"cannot read the command ({exc})")
        here = root
        for segment in _segments(words):
            verdict = self._simple(segment, root, here)
            if not verdict.allowed:
                return verdict
            if segment[0] == "cd":
                here = _resolve(segment[1], here) if len(segment) > 1 else HOME
        # Last, the delegation's own deny rules over the whole line (what the words above miss:
        # `$(…)`, backticks, pipes into a shell).
        for pattern in DEFAULT_DENY:
            if re.search(pattern, command, flags=re.IGNORECASE):
                return _deny(f"matches the deny rule {pattern!r}")
        return ALLOW

    def _simple(self, words: Sequence[str], root: str, here: str | None = None) -> ToolVerdict:
        """One simple command (no operators), with its redirections, run from ``here``."""
        args = list(words)
        env_git = [a for a in args if re.match(r"^GIT_\w+=", a)]
        if env_git:
            return _deny(f"{env_git[0].split('=')[0]} points git elsewhere")
        args = _unwrapped(args)
        if not args:
            return ALLOW
        if "$" in args[0] or "*" in args[0] or "?" in args[0]:
            return _deny(
                f"{args[0]!r}: a command the shell names, not the words (refused here; the sandbox holds anyway)"
            )
        name = posixpath.basename(args[0])
        redirected = [args[i + 1] for i, w in enumerate(args[:-1]) if w in REDIRECTS and w != "<"]
        for target in redirected:
            if not target.startswith("&") and not (v := self.path(target, root, write=True, here=here)).allowed:
                return v
        if name in NEVER:
            return _deny(f"{name} {NEVER[name]}")
        if name in (*SHELLS, "eval") and (inner := _inline_script(args)) is not None:
            return self.shell(inner, root)
        if name in SHELLS and (len(args) == 1 or "<<" in args or "<<<" in args or args[1].startswith("-")):
            return _deny(f"{name} reading commands the gate cannot see (a pipe or here-document)")
        if INTERPRETERS.match(name) and any(
            a in ("-c", "-e", "-E", "--eval", "-r", "-") or "<<" in a for a in args[1:]
        ):
            return _deny(f"{name} one-liner: code the gate cannot read (refused here; the sandbox holds anyway)")
        if (refused := self._by_name(name, args, root, here)) is not None:
            return refused
        return self._words(args, root, here, write=name in WRITERS)

    def _by_name(self, name: str, args: Sequence[str], root: str, here: str | None) -> ToolVerdict | None:
        """What this command does that no argument of it says alone (delete a tree, upload, leave)."""
        if name == "rm" and any(
            re.fullmatch(r"-[a-zA-Z]*[rR][a-zA-Z]*", a) or _abbrev(a, "--recursive") for a in args[1:]
        ):
            return _deny("deletes recursively")
        if name == "find" and any(a in ("-delete", "-exec", "-execdir", "-ok", "-okdir") for a in args):
            return _deny("find that deletes or runs commands")
        if name in ("chmod", "chown") and any(a == "-R" or _abbrev(a, "--recursive") for a in args):
            return _deny(f"{name} -R changes a whole tree")
        if name.startswith("mkfs") or name in ("fdisk", "parted", "mount", "umount"):
            return _deny(f"{name} changes disks")
        if name == "git" and not (v := self._git(args[1:], root, here)).allowed:
            return v
        if name in ("curl", "wget") and (upload := next((a for a in args if UPLOADS.match(a)), None)):
            return _deny(f"{name} {upload} sends data off the machine")
        if name == "rsync" and any(re.match(r"^[\w.-]+(@[\w.-]+)?:", a) for a in args[1:]):
            return _deny("rsync to another machine")
        if name == "cd":
            if len(args) == 1:
                return _deny("cd to your home: outside the task's worktree")
            if not (v := self.path(args[1], root, write=True, here=here)).allowed:
                return v
        return None

    def _words(self, args: Sequence[str], root: str, here: str | None, *, write: bool) -> ToolVerdict:
        """Each word that names a path (inside the task's folder, or refused), or credentials."""
        for word in args[1:]:
            if "$" in word and "/" in word:
                return _deny(
                    f"{word}: a path the shell expands, not the words (refused here; the sandbox holds anyway)"
                )
            if _pathlike(word) and not (v := self.path(word, root, write=write, here=here)).allowed:
                return v
            if CREDENTIALS.search(word):
                return _deny(f"{word} holds credentials")
        return ALLOW

    def _git(self, args: Sequence[str], root: str, here: str | None = None) -> ToolVerdict:
        rest = list(args)
        while rest and rest[0].startswith("-"):
            option, _, inline = rest.pop(0).partition("=")
            if option in ("-C", "--git-dir", "--work-tree", "--namespace") and (inline or rest):
                target = inline or rest.pop(0)
                if not (v := self.path(target, root, write=True, here=here)).allowed:
                    return v
            elif option == "-c" and rest:
                if GIT_CONFIG_RUNS.match(setting := rest.pop(0)):
                    return _deny(f"git -c {setting.split('=')[0]} runs or reaches something else")
            elif option in ("--exec-path", "--config-env"):
                return _deny(f"git {option} points git elsewhere")
        if not rest:
            return ALLOW
        sub, flags = rest[0], rest[1:]
        if sub in GIT_NEVER:
            return _deny(f"git {sub} {GIT_NEVER[sub]}")
        if sub == "reset" and any(f == "--hard" or _abbrev(f, "--hard") for f in flags):
            return _deny("git reset --hard throws work away")
        if sub == "clean" and any(re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*", f) or _abbrev(f, "--force") for f in flags):
            return _deny("git clean -f deletes untracked files")
        if sub == "commit" and any(re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", f) for f in flags if not f.startswith("--")):
            return _deny("git commit -n skips verification")
        if sub in ("branch", "tag") and any(
            f in ("-D", "-d", "-f") or _abbrev(f, "--delete") or _abbrev(f, "--force") for f in flags
        ):
            return _deny(f"git {sub} deletes or moves references")
        if sub == "stash" and flags and flags[0] in ("clear", "drop"):
            return _deny(f"git stash {flags[0]} throws stashed work away")
        if sub == "config":
            if any(f in ("--global", "--system", "--file", "-f") or f.startswith("--file=") for f in flags):
                return _deny("git config outside the repository")
            if (key := next((f for f in flags if not f.startswith("-")), None)) and GIT_CONFIG_RUNS.match(key):
                return _deny(f"git config {key}: a setting that runs or reaches something else")
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
            rest = [a for a in args[i + 1 :] if a != "--"]  # `bash -c -- 'script'`
            return rest[0] if rest else None
    return None


def _unwrapped(args: list[str]) -> list[str]:
    """The command a line runs once assignments and wrappers (with their options) are set
    aside: ``timeout 5 nice -n 10 env -i X=1 rm …`` runs ``rm …``."""
    while args:
        first = args[0]
        if "=" in first and not first.startswith(("-", "/", ".")):
            args = args[1:]
        elif posixpath.basename(first) in WRAPPERS:
            args = args[1:]
            while args and (args[0].startswith("-") or re.fullmatch(r"\d+(\.\d+)?[smhd]?", args[0])):
                option = args.pop(0)
                if option in WRAPPER_VALUES and args:
                    args.pop(0)
        elif posixpath.basename(first) == "busybox" and len(args) > 1:
            args = args[1:]
        else:
            break
    return args


def _abbrev(flag: str, option: str) -> bool:
    """GNU tools take any unambiguous prefix of a long option (``--recu`` is ``--recursive``)."""
    return flag.startswith("--") and len(flag) >= 4 and option.startswith(flag.split("=")[0])


def _home(command: str) -> str:
    """``$HOME``, ``${HOME}`` and a bare ``~`` read as the shell reads them: the home."""
    return re.sub(r"\$\{HOME\}|\$HOME\b", "~", command)


def _pathlike(word: str) -> bool:
    if "://" in word or word.startswith("-"):
        return False
    return word.startswith(("/", "~")) or ".." in word.split("/")


HOME = "/home/~"
"""Where ``~`` is to the gate: never inside a worktree."""
UNREADABLE = re.compile(r"\$\(|`|\$'|\$\{(?!HOME\})|<\(|>\(")
"""What the shell turns into other words before running them: command and process
substitution, ANSI-C quoting, parameter expansions other than the home."""


def _resolve(value: str, root: str) -> str:
    if value.startswith("~"):
        return HOME + value[1:]
    return posixpath.normpath(posixpath.join(root, value))


def _within(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots if r)
