"""Paths and answers of the controller's REST API: an object's path, a `next` link's path, a JSON object.

Small rules every verb of `AviClient` follows: a uuid is quoted into the path (never trusted to be
URL-safe), the `next` link of a page is followed by its path and query only (the controller writes
it with the host it believes it has), and an answer that is not a JSON object is an error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from akod.avi.errors import AviError
from akod.avi.transport import Reply


def item_path(obj_type: str, uuid: str) -> str:
    if not uuid:
        raise ValueError(f"{obj_type}: empty uuid")
    return f"/api/{obj_type}/{quote(uuid, safe='')}"


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def as_object(reply: Reply, *, method: str, path: str) -> dict[str, Any]:
    if reply.body is None:
        return {}
    if not isinstance(reply.body, dict):
        raise AviError(
            status=reply.status, message="reply is not a JSON object", method=method, path=path
        )
    return reply.body
