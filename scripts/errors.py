"""Errors and exit codes shared by every command.

Every command exits with one of :class:`ExitCode`. Scripts raise the
exceptions below; ``scripts.cli`` turns them into one ``error:`` line on stderr
(plus an optional ``hint:`` line), a JSON error object under ``--json``, and the
matching exit code. Raising before any mutating call is what guarantees
"bad input changes nothing".
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from contract.messages import describe_invalid


class ExitCode(IntEnum):
    """Process exit codes. Stable: runbooks and CI pipelines branch on them."""

    OK = 0
    #: The command ran, but at least one step or check failed.
    CHECK_FAILED = 1
    #: An argument or input file was refused before anything was changed.
    BAD_INPUT = 2
    #: A safety precondition refused the operation (conflicting resource,
    #: healthy primary without --force, missing confirmation). Nothing changed.
    REFUSED = 3
    #: A wait exceeded its timeout. The operation may still be running; the
    #: same command can be re-run to resume waiting.
    TIMEOUT = 4
    #: An external system (AWS, PostgreSQL, barman-cloud, Keycloak) failed.
    EXTERNAL = 5
    #: Interrupted by the user (Ctrl-C / SIGTERM); cleanup has run.
    INTERRUPTED = 130


class DrError(Exception):
    """Base class: a failure with a message meant for the operator."""

    exit_code: ExitCode = ExitCode.EXTERNAL

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class InputError(DrError):
    """A refused argument: names the field, the bad value and what is allowed."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, field: str, value: Any, allowed: str, *, hint: str | None = None):
        super().__init__(describe_invalid(field, value, allowed), hint=hint)
        self.field = field
        self.value = value
        self.allowed = allowed

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update({"field": self.field, "value": _jsonable(self.value), "allowed": self.allowed})
        return out


class RefusedError(DrError):
    """A safety rule refused the operation; nothing was changed."""

    exit_code = ExitCode.REFUSED


class WaitTimeout(DrError):
    """A wait ran out of time; the operation may still be in progress."""

    exit_code = ExitCode.TIMEOUT


class ExternalError(DrError):
    """An external system failed (AWS API error, tool exited non-zero, ...)."""

    exit_code = ExitCode.EXTERNAL


class CheckFailed(DrError):
    """Raised by a command whose checks ran and at least one failed."""

    exit_code = ExitCode.CHECK_FAILED


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def interrupted() -> DrError:
    """The error recorded when Ctrl-C or SIGTERM ended a command (after its cleanup ran)."""
    error = DrError("interrupted; started processes were stopped")
    error.exit_code = ExitCode.INTERRUPTED
    return error
