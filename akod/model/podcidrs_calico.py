"""Calico's pod CIDRs: the blocks of `crd.projectcalico.org/v1` BlockAffinities, per node.

Calico IPAM hands each node blocks (a /26 by default) and records each in a cluster-scoped
BlockAffinity: `spec.node`, `spec.cidr`, `spec.state` (`confirmed`, `pending`, `pendingDeletion`)
and `spec.deleted`, a *string* "true"/"false" kept for compatibility. Only a confirmed block that
is not deleted is routed; a pending one is normal while Calico allocates and is not a problem.
A node has several blocks: one route each, with a route id made from the block's CIDR, so a block
released removes its route and no other (AKO crashed on duplicate route ids here, its PR #1426).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from akod.model.podcidrs_types import PodCidr, cidr_suffix, parse_cidr
from akod.model.problems import ObjectRef, Problem, quoted

BLOCK_KIND = "BlockAffinity"
CONFIRMED = "confirmed"
STATES = ("confirmed", "pending", "pendingDeletion")


def block_ref(name: str) -> ObjectRef:
    return ObjectRef(kind=BLOCK_KIND, namespace="", name=name)


def calico_blocks(bodies: Iterable[Mapping[str, Any]], problems: list[Problem]) -> dict[str, tuple[PodCidr, ...]]:
    """Node name -> its routable blocks (sorted by CIDR); a malformed BlockAffinity is a problem of its own."""
    found: dict[str, dict[str, PodCidr]] = {}
    for body in sorted(bodies, key=lambda b: str(b.get("name", ""))):
        name = str(body.get("name", ""))
        ref = block_ref(name)

        def bad(where: str, message: str, ref: ObjectRef = ref) -> None:
            problems.append(Problem(obj=ref, field=where, reason="InvalidBlockAffinity",
                                    message=f"{message}; no static route for this block"))

        if body.get("spec_type"):
            bad("spec", f"spec is a {body['spec_type']}, not an object")
            continue
        node, cidr, state, deleted = (body.get(k) for k in ("node", "cidr", "state", "deleted"))
        if deleted not in (None, "", "true", "false", True, False):
            bad("spec.deleted", f"{quoted(deleted)} is neither \"true\" nor \"false\"")
            continue
        if deleted in ("true", True):
            continue
        if state not in STATES:
            bad("spec.state", f"{quoted(state)} is not one of {', '.join(STATES)}")
            continue
        if state != CONFIRMED:
            continue
        if not isinstance(node, str) or not node:
            bad("spec.node", f"{quoted(node)} is not a node name")
            continue
        prefix = parse_cidr(cidr)
        if prefix is None:
            bad("spec.cidr", f"{quoted(cidr)} is not a valid CIDR")
            continue
        suffix = cidr_suffix(prefix)
        found.setdefault(node, {}).setdefault(suffix, PodCidr(prefix=prefix, obj=ref, field="spec.cidr",
                                                              suffix=suffix))
    return {node: tuple(sorted(blocks.values(), key=lambda c: (c.prefix.version, c.prefix)))
            for node, blocks in found.items()}
