"""Typed errors of the controller edge.

The sync layer decides what to do with a failed call from its *kind*, not from a status code
buried in a string: a 409 on create means "adopt by name", a 412 means "re-read and re-apply",
a 404 on a read means "gone", an unavailable controller means "keep the backlog and report
not-ready", bad credentials mean "stop and tell the operator". Each of those is one class here,
all under `AviError`, so callers write `except AviConflict:` and never parse messages.

Messages come from the controller's reply (its `error` field when the body is JSON) and never
carry request bodies, headers or cookies, so an exception can be logged or stored as it is.
"""

from __future__ import annotations

from typing import Any

_MAX_MESSAGE = 500


class AviError(Exception):
    """A call to the controller failed; `status` is None when no HTTP reply was received."""

    def __init__(self, *, status: int | None, message: str, method: str, path: str) -> None:
        self.status = status
        self.message = message[:_MAX_MESSAGE]
        self.method = method
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        code = "no reply" if self.status is None else str(self.status)
        return f"{self.method} {self.path}: {code}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only __init__: keep exceptions picklable (logging handlers, process pools).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[AviError], state: dict[str, Any]) -> AviError:
    error = cls.__new__(cls)
    Exception.__init__(error)
    error.__dict__.update(state)
    if isinstance(state.get("cause"), BaseException):
        error.__cause__ = state["cause"]
    return error


class AviBadRequest(AviError):
    """400: the controller rejected the body or the query (not retried)."""


class AviForbidden(AviError):
    """403: not allowed, unknown tenant, or delete of an object still referred to."""


class AviNotFound(AviError):
    """404 on a read or a write (a DELETE that gets 404 is a success, not this)."""


class AviConflict(AviError):
    """409: an object of that type and name already exists in the tenant."""


class AviPreconditionFailed(AviError):
    """412: the object changed since it was read (stale `_last_modified`); re-read and re-apply."""


class AviAuthError(AviError):
    """Bad credentials (`Invalid credentials`, or login refused); never retried."""


class AviWriteRefused(AviError):
    """This daemon may not write now (it is not the leader, or could not renew its lease in time).

    Raised before anything is sent: the write certainly did not happen."""

    refused_write = True  # the engine requeues such a key quietly


class AviAmbiguousName(AviError):
    """A lookup by name matched more than one object (add a scope such as `cloud_ref.name`)."""


class AviUnavailable(AviError):
    """5xx, 429 or connection errors outlasted the retry budget; `cause` is the last one seen."""

    def __init__(
        self,
        *,
        status: int | None,
        message: str,
        method: str,
        path: str,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(status=status, message=message, method=method, path=path)
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class AviOutcomeUnknown(AviUnavailable):
    """A POST may have reached the controller but no reply came back.

    The client does not repeat it: the caller reads the object back by name (names are
    deterministic) and adopts it or creates it again. `obj_type`, `name` and `tenant` say what
    to look for.
    """

    def __init__(
        self,
        *,
        status: int | None,
        message: str,
        method: str,
        path: str,
        cause: BaseException | None = None,
        obj_type: str = "",
        name: str | None = None,
        tenant: str = "",
    ) -> None:
        super().__init__(status=status, message=message, method=method, path=path, cause=cause)
        self.obj_type = obj_type
        self.name = name
        self.tenant = tenant


_BY_STATUS: dict[int, type[AviError]] = {
    400: AviBadRequest,
    403: AviForbidden,
    404: AviNotFound,
    409: AviConflict,
    412: AviPreconditionFailed,
}


def error_for_status(*, status: int, message: str, method: str, path: str) -> AviError:
    """The typed error for a final (not retried) non-2xx reply."""
    cls = _BY_STATUS.get(status, AviError)
    return cls(status=status, message=message, method=method, path=path)
