"""Errors the emulator answers with, raised anywhere below the HTTP handlers.

A real controller answers most failures with a JSON body `{"error": "..."}` (sometimes with
`obj_name`), a few with plain text (the CSRF 401). Raising one exception type from the store,
the validator or the IPAM and turning it into a response in one middleware keeps those layers
free of aiohttp and keeps every message in one shape.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error answer: status plus a JSON body (or plain text when `text` is set)."""

    def __init__(self, status: int, message: str, *, text: bool = False, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.text = text
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(model: str) -> ApiError:
    """The controller's wording for a missing object or ref target (AKO matches on it)."""
    return ApiError(404, f"{model} object not found!")


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def forbidden(message: str, **extra: Any) -> ApiError:
    return ApiError(403, message, **extra)


def precondition_failed(message: str) -> ApiError:
    return ApiError(412, message)
