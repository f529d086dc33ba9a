"""Layer 3: the Avi controller edge: one paced, retrying, typed-error REST client."""

from akod.avi.client import AviClient
from akod.avi.errors import (
    AviAmbiguousName,
    AviAuthError,
    AviBadRequest,
    AviConflict,
    AviError,
    AviForbidden,
    AviNotFound,
    AviOutcomeUnknown,
    AviPreconditionFailed,
    AviUnavailable,
    AviWriteRefused,
)
from akod.avi.pacing import CALL_PRIORITY, Pacer
from akod.avi.retrying import RetryPolicy
from akod.avi.transport import CallObserver

__all__ = [
    "AviAmbiguousName",
    "AviAuthError",
    "AviBadRequest",
    "AviClient",
    "AviConflict",
    "AviError",
    "AviForbidden",
    "AviNotFound",
    "AviOutcomeUnknown",
    "AviPreconditionFailed",
    "AviUnavailable",
    "AviWriteRefused",
    "CallObserver",
    "CALL_PRIORITY",
    "Pacer",
    "RetryPolicy",
]
