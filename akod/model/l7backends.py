"""The backend Service of an Ingress path: its port, and the servers of the path's pool.

An Ingress names its backend by Service and port (a number, or the name of a Service port; none
means 80). The Service must exist in the Ingress's namespace and have that port, else the path
is not served and the Ingress gets an object error on the field at fault
(`BackendServiceMissing`, `BackendPortMissing`). Servers come exactly as for an L4 pool
(`poolservers`): endpoint addresses on the target port in ClusterIP mode, node addresses on the
nodePort in NodePort mode, the pods' NodePortLocal mappings in NodePortLocal mode. In NodePort
mode a ClusterIP Service has no nodePort: its pool is written without servers (as AKO does) and
the Ingress is told why (`NoNodePort`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from akod.model.l4members import PoolMembers, ServicePort, uses_node_ports
from akod.model.l7context import L7Context
from akod.model.l7hosts import HostPath
from akod.model.poolservers import servers_of
from akod.model.problems import ObjectRef, Problem, quoted


@dataclass(frozen=True, slots=True)
class Backend:
    """A route whose Service and port exist: what its pool needs."""

    entry: HostPath
    port: ServicePort
    members: PoolMembers


SERVICE_FIELD, PORT_NAME_FIELD, PORT_NUMBER_FIELD = range(3)  # indexes of `HostPath.backend_fields`


def _problem(entry: HostPath, which: int, reason: str, message: str) -> Problem:
    return Problem(obj=ObjectRef(kind="Ingress", namespace=entry.namespace, name=entry.ingress),
                   field=f"{entry.field}.{entry.backend_fields[which]}", reason=reason, message=message)


def service_port(*, service: Mapping[str, Any], entry: HostPath) -> ServicePort | None:
    """The Service port the backend names, None when the Service has no such port."""
    for index, raw in enumerate(service.get("ports") or ()):
        number = raw.get("port")
        if entry.port_name:
            if str(raw.get("name") or "") != entry.port_name:
                continue
        elif number != entry.port_number:
            continue
        if not isinstance(number, int):
            return None
        target = raw.get("target_port")
        node_port = raw.get("node_port")
        return ServicePort(index=index, name=str(raw.get("name") or ""), protocol=str(raw.get("protocol") or "TCP"),
                           port=number, target_port=target if isinstance(target, (int, str)) and target != "" else None,
                           node_port=node_port if isinstance(node_port, int) else None)
    return None


def resolve_backend(*, entry: HostPath, services: Mapping[tuple[str, str], Mapping[str, Any]],
                    endpoints: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
                    nodes: Sequence[Mapping[str, Any]], ctx: L7Context,
                    pods: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]] | None = None,
                    ) -> tuple[Backend | None, list[Problem]]:
    """The pool of one route, or the problem that keeps it from being served."""
    where = f"{entry.host}{entry.path}"
    service = services.get((entry.namespace, entry.service))
    if service is None:
        return None, [_problem(entry, SERVICE_FIELD, "BackendServiceMissing",
                               f"Service {entry.namespace}/{entry.service} does not exist; {where} is not served "
                               "until it does")]
    port = service_port(service=service, entry=entry)
    if port is None:
        if entry.port_name:
            return None, [_problem(entry, PORT_NAME_FIELD, "BackendPortMissing",
                                   f"Service {entry.service} has no port named {quoted(entry.port_name)}; {where} is not "
                                   "served")]
        return None, [_problem(entry, PORT_NUMBER_FIELD, "BackendPortMissing",
                               f"Service {entry.service} has no port {entry.port_number}; {where} is not served")]
    problems = []
    if port.node_port is None and uses_node_ports(service=service, ctx=ctx.l4):
        problems.append(_problem(entry, SERVICE_FIELD, "NoNodePort",
                                 f"Service {entry.service} has no nodePort (type ClusterIP?); in NodePort mode "
                                 f"the pool of {where} has no servers"))
    ports = service.get("ports") or ()
    ident = (entry.namespace, entry.service)
    members = servers_of(service=service, port=port, single_port=len(ports) == 1, endpoints=endpoints.get(ident, ()),
                         nodes=nodes, pods=(pods or {}).get(ident, ()), ctx=ctx.l4)
    return Backend(entry=entry, port=port, members=members), problems
