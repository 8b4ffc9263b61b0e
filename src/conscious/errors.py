"""One exception hierarchy for the whole package.

    ConsciousError                 every error we raise on purpose; ``str()`` is one user-facing line
    ├── ConfigError                a broken config file, a bad value, a watch path that does not exist
    ├── JournalError               the SQLite journal cannot be opened or written
    ├── LLMError                   anything from the model server
    │   ├── LLMUnavailable         cannot connect, timed out, 5xx               (retryable)
    │   ├── LLMRejected            4xx: a request the server refuses
    │   │   └── ContextOverflow    the prompt does not fit the model's context (compact, ask again)
    │   └── ModelNotFound          no model loaded / model file missing
    ├── EmbeddedServerError        llama-server could not be found or started
    ├── ReplayError                a recorded observations file that cannot be read
    ├── CommandNotFound            an agent's (or ``lms``'s) executable is not installed
    ├── ApiUnavailable             a running daemon's control API does not answer (the CLI reads the journal)
    ├── BadQuery                   a list asked for with a filter it does not have
    ├── BadRequest                 a request (``tell``) that is empty or too long
    ├── PartFailed                 a long-lived part kept failing: the daemon stops, non-zero
    ├── BrokerError                the NATS broker cannot be reached or refused a request
    │   └── Fenced                 another brain leads: this one must not decide
    ├── GitError                   a git command failed (its own message, one line)
    │   └── MergeConflict          a task's branch does not merge cleanly: nothing was touched
    └── DecisionParseError         a model reply that is not a usable Decision

Only retry wrappers look at ``retryable``; everything else is reported and journaled.
"""

from __future__ import annotations


class ConsciousError(Exception):
    """Base class; the message is shown to the user as a single line."""

    retryable: bool = False


class ConfigError(ConsciousError):
    pass


class JournalError(ConsciousError):
    pass


class BadRequest(ConsciousError):
    pass


class PartFailed(ConsciousError):
    pass


class ReplayError(ConsciousError):
    pass


class CommandNotFound(ConsciousError):
    pass


class ApiUnavailable(ConsciousError):
    """The daemon's API did not answer: use the journal instead."""


class BrokerError(ConsciousError):
    retryable = True


class Fenced(BrokerError):
    """A decision refused by the stream because another brain appended first (or holds the lease)."""

    retryable = False


class GitError(ConsciousError):
    pass


class MergeConflict(GitError):
    pass


class BadQuery(ConsciousError, ValueError):
    pass


class LLMError(ConsciousError):
    pass


class LLMUnavailable(LLMError):
    retryable = True


class LLMRejected(LLMError):
    pass


class ContextOverflow(LLMRejected):
    """The server says the prompt exceeds its context: our count and its own disagree."""


class ModelNotFound(LLMError):
    pass


class EmbeddedServerError(ConsciousError):
    pass


class DecisionParseError(ConsciousError):
    """The reply could not be turned into a Decision; ``raw`` keeps what the model said."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw
