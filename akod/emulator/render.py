"""Spells stored objects as the controller returns them to one particular request.

What a client sees depends on the request: refs and `url` carry the host it used
(`https://<Host>/api/<type>/<uuid>`), a `#<name>` suffix in POST/PUT/PATCH answers or with
`include_name`, relative `/api/...` refs inside the login answer, only the asked `fields`, and
only the top-level fields that exist in the API version asked for (`X-Avi-Version`; a request
without it gets the controller's 16.4.2 shape, as recorded). A write-only secret is never
returned; reads show `<sensitive>` in its place, as the controller does for a certificate key.
Stored bodies hold `Ref` values, so one `json.dumps` with a `default` hook renders a whole page
of objects without copying the trees.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from akod.emulator.refs import Ref
from akod.emulator.schema import SINGLETONS, WRITE_ONLY
from akod.emulator.store import Store, StoredObject

#: Always returned, whatever `fields=` says (the spec: "name, URL, uuid etc. are always returned").
ALWAYS_FIELDS = ("url", "uuid", "name")


class Renderer:
    def __init__(
        self,
        *,
        store: Store,
        host: str,
        include_name: bool,
        relative: bool = False,
        version: tuple[int, ...] | None = None,
        show_secrets: bool = False,
    ) -> None:
        self.store = store
        self.prefix = "" if relative else f"https://{host}"
        self.include_name = include_name
        self.version = version
        self.show_secrets = show_secrets  # reads show "<sensitive>" where a secret is stored

    def _newer(self, obj_type: str) -> frozenset[str]:
        if self.version is None:
            return frozenset()
        return self.store.schema.hidden_fields(obj_type, self.version)

    def ref(self, ref: Ref) -> str:
        text = f"{self.prefix}/api/{ref.type}/{ref.uuid}"
        if self.include_name:
            name = self.store.name_of(ref.uuid) or ref.hint
            if name:
                text = f"{text}#{name}"
        return text

    def url(self, obj: StoredObject) -> str:
        if obj.type in SINGLETONS:
            return f"{self.prefix}/api/{obj.type}"
        text = f"{self.prefix}/api/{obj.type}/{obj.uuid}"
        return f"{text}#{obj.name}" if self.include_name and obj.name else text

    def object(self, obj: StoredObject, *, fields: Iterable[str] | None = None) -> dict[str, Any]:
        """The top level of one object (nested values still hold Refs; `dumps` spells them)."""
        out: dict[str, Any] = {"url": self.url(obj)}
        hidden = self._newer(obj.type)
        wanted = None if fields is None else set(fields) | set(ALWAYS_FIELDS)
        for key, value in obj.body.items():
            if key not in hidden and (wanted is None or key in wanted):
                out[key] = value
        if self.show_secrets:
            for key in WRITE_ONLY.get(obj.type, ()):
                if key in obj.secrets and (wanted is None or key in wanted):
                    out[key] = "<sensitive>"
        if obj.type == "vsvip" and (fields is None or "vs_refs" in fields):
            users = [Ref(o.type, o.uuid) for o in self.store.referrers(obj.uuid)
                     if o.type == "virtualservice"]
            if users:
                out["vs_refs"] = users
        return out

    def _default(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return self.ref(value)
        raise TypeError(f"cannot render {type(value).__name__}")

    def dumps(self, data: Any) -> str:
        return json.dumps(data, default=self._default)

    def plain(self, data: Any) -> Any:
        """The rendered value as plain JSON data (for in-process inspection and the login body)."""
        return json.loads(self.dumps(data))
