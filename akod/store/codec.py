"""How the store's records become row parameters, and rows become records again.

The writer (statement parameters), the queries (rows read back) and the mirror (records kept in
memory) must agree on one encoding, column by column: JSON with sorted keys and no spaces, ISO-8601
UTC timestamps, `applied_at` filled with the write's stamp when the caller left it empty. Keeping
both directions here is what lets the mirror hold exactly what a fresh read of the database would
return (`applied_row`), so nobody can tell a mirror hit from a query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from sys import intern
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import RowMapping

from akod.model.problems import ObjectRef
from akod.store.records import Applied, Cursor, Desired, JournalEntry, Observed, StoredProblem

Ident = tuple[str, str, str]
"""An Avi object's identity: (obj_type, tenant, name)."""

Params = dict[str, Any]
"""One row's statement parameters, by column (or bind parameter) name."""

ERROR_LIMIT = 2000
"""How much of an error message the journal keeps."""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # one, not one per call (json.dumps)


def dumps(body: Mapping[str, Any]) -> str:
    return _ENCODER.encode(body)


def ident_of(obj: Applied | Desired) -> Ident:
    return (obj.obj_type, obj.tenant, obj.name)


# -- records to parameters -----------------------------------------------------------------------

def applied_row(applied: Applied, *, stamp: str, owner_key: str | None = None,
                role: str | None = None) -> tuple[Params, Applied]:
    """The row that stores `applied` (written with `stamp`), and the record that row reads back as.

    Both at once: the record is what the mirror keeps, and it shares the row's JSON text (`info`
    goes through JSON once, as the database would give it back, and the caller's dict is not
    kept). `owner_key` and `role` replace the record's own when given.
    """
    info = dumps(applied.info)
    row = {"obj_type": applied.obj_type, "tenant": applied.tenant, "name": applied.name, "uuid": applied.uuid,
           "checksum": applied.checksum, "last_modified": applied.last_modified,
           "applied_at": applied.applied_at or stamp,
           "owner_key": applied.owner_key if owner_key is None else owner_key,
           "info": info, "role": applied.role if role is None else role}
    stored = Applied(obj_type=applied.obj_type, tenant=applied.tenant, name=applied.name, uuid=applied.uuid,
                     checksum=applied.checksum, last_modified=applied.last_modified, applied_at=row["applied_at"],
                     owner_key=row["owner_key"], info=json.loads(info) if applied.info else {}, role=row["role"])
    return row, stored


def desired_params(desired: Desired, *, owner_key: str, stamp: str) -> Params:
    return {"obj_type": desired.obj_type, "tenant": desired.tenant, "name": desired.name, "owner_key": owner_key,
            "body": dumps(desired.body), "checksum": desired.checksum, "updated_at": stamp, "role": desired.role,
            "subjects": _ENCODER.encode([[r.kind, r.namespace, r.name] for r in desired.subjects])}


def observed_params(obj: Observed, *, kind: str, stamp: str) -> Params:
    return {"kind": kind, "namespace": obj.namespace, "name": obj.name, "uid": obj.uid,
            "resource_version": obj.resource_version, "body": dumps(obj.body), "updated_at": stamp}


# -- rows to records -----------------------------------------------------------------------------
# Each takes a row's columns by name, as `Result.mappings()` yields them, in any column order.

def applied_from(row: RowMapping) -> Applied:
    # Interned: the mirror holds these for every applied object, and the type, tenant, owner key
    # and role repeat across objects (the name is shared with the desired row of the same object).
    return Applied(obj_type=intern(row["obj_type"]), tenant=intern(row["tenant"]), name=intern(row["name"]),
                   uuid=row["uuid"], checksum=row["checksum"], last_modified=row["last_modified"],
                   applied_at=row["applied_at"], owner_key=_interned(row["owner_key"]),
                   info=json.loads(row["info"] or "{}"), role=_interned(row["role"]))


def _interned(value: Any) -> Any:
    return intern(value) if isinstance(value, str) else value


def desired_from(row: RowMapping) -> Desired:
    return Desired(obj_type=row["obj_type"], tenant=row["tenant"], name=row["name"], owner_key=row["owner_key"],
                   body=json.loads(row["body"]), checksum=row["checksum"], role=row["role"],
                   subjects=tuple(ObjectRef(kind=k, namespace=ns, name=n)
                                  for k, ns, n in json.loads(row["subjects"] or "[]")))


def observed_from(row: RowMapping) -> Observed:
    return Observed(kind=intern(row["kind"]), namespace=intern(row["namespace"]), name=row["name"], uid=row["uid"],
                    resource_version=row["resource_version"], body=json.loads(row["body"]))


def cursor_from(row: RowMapping) -> Cursor:
    return Cursor(resource=row["resource"], resource_version=row["resource_version"], listed_at=row["listed_at"],
                  updated_at=row["updated_at"])


def journal_from(row: RowMapping) -> JournalEntry:
    return JournalEntry(id=row["id"], key=row["key"], op=row["op"], obj_type=row["obj_type"], tenant=row["tenant"],
                        name=row["name"], checksum=row["checksum"], state=row["state"], attempts=row["attempts"],
                        last_error=row["last_error"], created_at=row["created_at"], updated_at=row["updated_at"])


def problem_from(row: RowMapping) -> StoredProblem:
    return StoredProblem(kind=row["kind"], namespace=row["namespace"], name=row["name"], field=row["field"],
                         reason=row["reason"], message=row["message"], since=row["since"])
