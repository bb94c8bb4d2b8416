"""The one exception hierarchy for hive; the CLI edge turns each into a line and an exit code.

```
HiveError                       exit 1 unless a subclass says otherwise
├── UsageError                  bad input, unknown profile          → 2
├── ConfigError                 unreadable or invalid settings file  → 2
├── BudgetError                 a spending limit would be crossed    → 4
├── DegradedError               --strict and the answer is degraded  → 5
├── Interrupted                 Ctrl-C, SIGTERM, SIGHUP              → 130, 143, 129
├── StorageError                a file or folder hive could not write
│   └── UnsavedError            the answer was shown; history could not record it all
├── StageError                  a pipeline stage failed; takes its cause's exit code
└── ApiFailure                  what the server said: status, code, retry hints, partial text, cost
    ├── AuthError               401: key missing, malformed, revoked → 3
    │   └── CreditsError        402: not enough credits              → 3
    └── ProviderError           anything OpenRouter or the network refused
        ├── BadRequest          400 / 413 / 422
        ├── ModerationBlocked   403
        ├── ModelNotFound       404
        ├── RequestTimeout      408 / 524 / client-side timeouts
        ├── RateLimited         429
        ├── ProviderUnavailable 500 / 502 / 503 / 529 / 3xx / a connection lost before a reply
        │   └── Unreachable     no connection could be made (refused, no route)
        │       └── HostNotFound  the host name does not resolve: never retried
        └── StreamError         malformed, truncated, empty or in-band-failed stream
```
Auth errors are not ProviderErrors so that nothing (the retry layer included) ever treats a
rejected key as transient.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hive.money import Total


class HiveError(Exception):
    """Base of every expected failure. ``str(err)`` is the one line a user sees."""

    exit_code = 1
    # Set when the failure ended a run recorded in history: its id and what it had spent
    # (a ``hive.money.Total``), so ``--json`` can say so on stdout.
    run_id: int | None = None
    spent: Total | None = None


class UsageError(HiveError):
    exit_code = 2


class ConfigError(HiveError):
    """A settings, keys or profiles file hive refuses to use (and so never overwrites)."""

    exit_code = 2


class StorageError(HiveError):
    pass


class UnsavedError(StorageError):
    """The answer was shown, but history could not record all of the run (exit 1): the
    message says which paid calls were not saved."""


class BudgetError(HiveError):
    exit_code = 4


class Interrupted(HiveError):
    """Ctrl-C, SIGTERM or SIGHUP ended a run: in-flight requests were cancelled, what was
    spent is kept. Exits 128 + the signal's number (130, 143, 129), as a shell expects."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class DegradedError(HiveError):
    """``--strict``: the answer was printed, but a stage failed on the way to it."""

    exit_code = 5


class ApiFailure(HiveError):
    """The base of every failed call to the server, a rejected key (``AuthError``) as much
    as anything the server or the network refused (``ProviderError``); never raised itself.

    It holds what is known of the failure: what the server said (status, code, its retry
    hints and verdict) and what the call delivered, and may be billed for, before it failed
    (partial text, tokens, cost). The stream's part (``warnings``, ``accepted``, ``model``,
    ``reasoning_tokens``) is filled in by whoever read the stream, once the error is made."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        provider: str | None = None,
        partial_text: str = "",
        cost: Decimal | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.provider = provider
        # What a stream delivered (and billed) before it failed, so nothing paid for is lost.
        self.partial_text = partial_text
        self.cost = cost
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said
        self.retryable = retryable  # the server's own verdict, when it gave one
        # Things worth telling the user that did not stop the call (a skipped stream line).
        self.warnings: tuple[str, ...] = ()
        # Whether the server had accepted the request (answered 200) when it failed: such a
        # call may be billed; one refused with an error status, or never sent, is not.
        self.accepted = False
        self.model: str | None = None  # the model the server said was answering, if it did
        # Completion tokens the model spent reasoning before it failed, if usage said.
        self.reasoning_tokens: int | None = None


class AuthError(ApiFailure):
    exit_code = 3


class CreditsError(AuthError):
    pass


class ProviderError(ApiFailure):
    pass


class BadRequest(ProviderError):
    pass


class ModerationBlocked(ProviderError):
    pass


class ModelNotFound(ProviderError):
    pass


class RequestTimeout(ProviderError):
    pass


class RateLimited(ProviderError):
    pass


class ProviderUnavailable(ProviderError):
    pass


class Unreachable(ProviderUnavailable):
    """No connection to the server could be made: refused, no route, no network. Another try
    may succeed (a network coming back); the CLI command that can run without a server says
    so."""


class HostNotFound(Unreachable):
    """The server's host name does not resolve (a typo in the base URL, no DNS). Never retried
    and never passed to a fallback model: every model is on the same host."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class StreamError(ProviderError):
    pass


class StageError(HiveError):
    """A stage could not produce output; keeps the cause's exit code (3 for a bad key)."""

    def __init__(self, stage: str, model: str, cause: HiveError) -> None:
        super().__init__(f"{stage} stage failed ({model}): {cause}")
        self.stage = stage
        self.model = model
        self.cause = cause
        self.exit_code = cause.exit_code
