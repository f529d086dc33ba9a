"""Checks across the entries of one body that the schema cannot express.

The Swagger files describe each field on its own; some refusals of the controller compare
entries with each other. An HTTP policy set evaluates its rules by `index` and reports them by
`name`, so two rules of one policy with the same index (which one runs first?) or the same name
are refused with a 400. The spec does not state this and no recording shows the wording, so the
messages are ours; the check matters because incremental rule edits (PATCH add/delete, see
`patching`) are exactly where a client bug would leave a duplicate behind, and a data plane
(`dataplane`) fed such a policy would answer arbitrarily. Runs on every write, strict or not.
"""

from __future__ import annotations

from typing import Any

from akod.emulator.errors import bad_request

#: The rule lists of an HTTP policy set, each evaluated on its own.
_HTTP_POLICIES = ("http_request_policy", "http_response_policy", "http_security_policy")


def check(*, obj_type: str, model: str, body: dict[str, Any]) -> None:
    """Raise the controller's 400 when `body` (validated, about to be stored) breaks a rule."""
    if obj_type == "httppolicyset":
        for policy in _HTTP_POLICIES:
            rules = (body.get(policy) or {}).get("rules") or []
            _unique(rules, key="index", where=f"{policy}.rules", model=model)
            _unique(rules, key="name", where=f"{policy}.rules", model=model)


def _unique(rules: list[dict[str, Any]], *, key: str, where: str, model: str) -> None:
    seen: dict[Any, int] = {}
    for position, rule in enumerate(rules):
        value = rule.get(key)
        if value is None:
            continue
        if value in seen:
            raise bad_request(
                f"Duplicate {key} {value!r} in {where} of {model}: "
                f"rules [{seen[value]}] and [{position}]"
            )
        seen[value] = position
