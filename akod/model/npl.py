"""Antrea NodePortLocal: the pool servers a Service's pods publish, and what is wrong with their annotation.

With NodePortLocal, antrea-agent maps each port of a pod to a port of its node and writes the
mapping into the pod annotation `nodeportlocal.antrea.io`, a JSON list such as
`[{"podPort":8080,"nodeIP":"10.102.47.229","nodePort":40002,"protocol":"TCP"}]` (Antrea < 1.8
writes `protocols: ["TCP"]` instead of `protocol`). The Service Engines then reach the pod on
`nodeIP:nodePort` without routes to the pod network and without kube-proxy.

Pool servers of one Service port (AKO's `avi_model_l4_translator.go`): for each pod the Service
selects whose `Ready` condition is not `False`, the entries whose `podPort` is the port's target
port (a named target port is resolved from the pod's container ports; none means the Service
port) become `nodeIP:nodePort`. Like AKO, `protocol` is not compared: a TCP and a UDP mapping of
one pod port both become servers. Node addresses of an IP version the caller does not allow are
left out; servers are deduplicated and sorted (`l4members.deduplicate`), so an unchanged set of
pods gives a byte-identical pool and is never rewritten.

A malformed annotation (not JSON, not a list, an entry that is not an object, a port outside
1-65535, a nodeIP that is not an address, a missing field) is a problem of the Pod naming the
annotation and the entry's field; the entry is skipped, the pod's good entries and every other
pod still serve.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.l4members import PoolMembers, Server, ServicePort, deduplicate
from akod.model.nodes import IPAddress
from akod.model.problems import ObjectRef, Problem, quoted

NPL_ANNOTATION = "nodeportlocal.antrea.io"
NPL_ENABLED_ANNOTATION = "nodeportlocal.antrea.io/enabled"
NPL_FIELD = f"metadata.annotations[{NPL_ANNOTATION}]"
REASON = "InvalidNodePortLocal"


@dataclass(frozen=True, slots=True)
class NplEntry:
    """One usable mapping of the annotation: pod port -> node address and port."""

    pod_port: int
    node_ip: IPAddress
    node_port: int


def pod_ref(pod: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(kind="Pod", namespace=str(pod.get("namespace", "")), name=str(pod.get("name", "")))


def _port(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return None
    return int(value)


def read_npl(pod: Mapping[str, Any]) -> tuple[tuple[NplEntry, ...], tuple[Problem, ...]]:
    """The usable entries of the pod's annotation (none without one) and the problems of the others."""
    raw = pod.get("npl")
    if raw is None:
        return (), ()
    ref = pod_ref(pod)

    def problem(where: str, message: str) -> Problem:
        return Problem(obj=ref, field=where, reason=REASON, message=f"{message}; no pool server for it")

    try:
        parsed = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        return (), (problem(NPL_FIELD, f"is not JSON ({exc.msg} at character {exc.pos})"),)
    if not isinstance(parsed, list):
        return (), (problem(NPL_FIELD, f"is a JSON {type(parsed).__name__}, not a list of mappings"),)
    entries: list[NplEntry] = []
    problems: list[Problem] = []
    for index, item in enumerate(parsed):
        at = f"{NPL_FIELD}[{index}]"
        if not isinstance(item, dict):
            problems.append(problem(at, "is not a JSON object"))
            continue
        bad = False
        ports: dict[str, int] = {}
        for name in ("podPort", "nodePort"):
            if name not in item:
                problems.append(problem(f"{at}.{name}", "is missing"))
                bad = True
                continue
            number = _port(item[name])
            if number is None:
                problems.append(problem(f"{at}.{name}", f"{quoted(item[name])} is not a port (1-65535)"))
                bad = True
            else:
                ports[name] = number
        node_ip: IPAddress | None = None
        if "nodeIP" not in item:
            problems.append(problem(f"{at}.nodeIP", "is missing"))
            bad = True
        else:
            try:
                node_ip = ipaddress.ip_address(str(item["nodeIP"]))
            except ValueError:
                problems.append(problem(f"{at}.nodeIP", f"{quoted(item['nodeIP'])} is not an IP address"))
                bad = True
        if not bad and node_ip is not None:
            entries.append(NplEntry(pod_port=ports["podPort"], node_ip=node_ip, node_port=ports["nodePort"]))
    return tuple(entries), tuple(problems)


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service selector (equality only) matches these labels; an empty selector selects nothing."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def target_port_of(*, port: ServicePort, pod: Mapping[str, Any]) -> int | None:
    """The pod port a Service port sends to: a number, a named container port of the pod, or the port."""
    target = port.target_port
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target:
        if target.isdigit():
            return int(target)
        for container_port in pod.get("container_ports") or ():
            if container_port.get("name") == target and isinstance(container_port.get("port"), int):
                return int(container_port["port"])
        return None
    return port.port


def serving(pod: Mapping[str, Any]) -> bool:
    """AKO's `GetPodsFromService`: a pod whose Ready condition is False serves no traffic."""
    return pod.get("ready") is not False


def npl_members(*, port: ServicePort, pods: Iterable[Mapping[str, Any]], versions: frozenset[int]) -> PoolMembers:
    """The servers of the pool of `port`: nodeIP:nodePort of every mapping of its target port."""
    found: list[Server] = []
    for pod in pods:
        if not serving(pod):
            continue
        target = target_port_of(port=port, pod=pod)
        if target is None:
            continue
        entries, _ = read_npl(pod)  # the problems are the Pod's own (reported by the NPL family)
        for entry in entries:
            if entry.pod_port == target and entry.node_ip.version in versions:
                found.append(Server(ip=entry.node_ip, port=entry.node_port, enabled=True,
                                    node=str(pod.get("node") or "")))
    default_port = port.target_port if isinstance(port.target_port, int) else port.port
    return PoolMembers(servers=deduplicate(found), default_port=default_port)


def pods_problems(pods: Sequence[Mapping[str, Any]]) -> list[Problem]:
    return [p for pod in pods for p in read_npl(pod)[1]]
