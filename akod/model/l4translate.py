"""One L4 key -> its VsVip, pools, L4 policy set and virtual service, or the problems that stop them.

The input is every LoadBalancer Service whose `l4_key` is the key: one Service for a dedicated
VIP, a group for a shared VIP. Checks run in an order that keeps as much served as can be safely
served; a fault in what the Services of the key share stops the whole key, a fault of one Service
only that Service:

1. Name clash. Two owners can map to one name (namespace `a-b` Service `c` and namespace `a`
   Service `b-c`; or a Service named like a shared-VIP key). The oldest owner keeps the name,
   the others get `VirtualServiceNameClash`, like the oldest node keeps a contested route.
2. Names over 255 characters: the virtual service's stops the key (`metadata.name`, or the
   shared-VIP annotation when the key comes from it); a pool's stops its Service.
3. Ports. A protocol the controller cannot serve (SCTP before 22.1.1) stops the Service, not just
   the port: half a Service served looks healthy while clients of the other port fail. In a
   shared-VIP group the oldest Service keeps a port+protocol; a newer Service that repeats it is
   left out whole (`DuplicateListenerPort`), so a newcomer can never take down a working VIP.
4. Preferred VIP (annotation `ako.vmware.com/load-balancer-ip`, which wins over the deprecated
   `spec.loadBalancerIP`): not an address, outside the VIP network, or the network's network or
   broadcast address (no host can have those), stops the key; so does a
   group whose Services name different addresses (each gets `SharedVipIPConflict`). A Service
   that names none follows the one that does. An L4Rule's `loadBalancerIP` counts only for a
   Service that names no address itself, and is checked the same way.
   Before it, the L4Rule each Service names (annotation `ako.vmware.com/l4rule`) is resolved
   (`l4rule_apply`): one that cannot act on the Service is reported and the Service keeps the
   defaults; one that can sets its VS and pool fields on the bodies.
5. Host names (see `l4fqdn`): a refused name is reported, never stops anything.

A missing `nodePort` in NodePort mode leaves that pool without servers and is reported.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from akod.model.l4bodies import Listener, l4policyset_body, pool_body, vs_body, vsvip_body
from akod.model.l4context import (
    DISABLE_TRAFFIC_ANNOTATION,
    LB_IP_ANNOTATION,
    SHARED_VIP_ANNOTATION,
    L4Context,
    L4Result,
    annotation_field,
    is_true,
    service_annotations,
    service_ref,
    shared_vip_key,
)
from akod.model.l4fqdn import service_fqdns
from akod.model.l4members import ServicePort, ip_versions, uses_node_ports
from akod.model.l4names import MAX_NAME_LENGTH, pool_name, too_long
from akod.model.l4rule import L4RuleEffect
from akod.model.l4rule_apply import L4Rules, apply_to_pool, apply_to_vs, resolve, rule_ref, unmatched_backends
from akod.model.l4select import service_vs_name, vs_name_of_key
from akod.model.nodes import IPAddress, IPNetwork
from akod.model.objects import AviObject, Role
from akod.model.poolservers import servers_of
from akod.model.problems import ObjectRef, Problem, quoted

PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass
class _Candidate:
    """One Service of the key while it is being checked."""

    body: Mapping[str, Any]
    ports: list[ServicePort] = field(default_factory=list)
    excluded: bool = False

    @property
    def name(self) -> str:
        return str(self.body.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.body.get("namespace", ""))

    @property
    def age(self) -> tuple[str, str, str]:
        return (str(self.body.get("created") or "~"), self.namespace, self.name)


def _problem(service: Mapping[str, Any], where: str, reason: str, message: str) -> Problem:
    return Problem(obj=service_ref(service), field=where, reason=reason, message=message)


def _owner(service: Mapping[str, Any]) -> tuple[str, str]:
    """Who owns the virtual service name: (namespace, shared key) or (namespace, "/" + Service name)."""
    return str(service.get("namespace", "")), shared_vip_key(service) or "/" + str(service.get("name", ""))


def _name_field(service: Mapping[str, Any]) -> str:
    return annotation_field(SHARED_VIP_ANNOTATION) if shared_vip_key(service) else "metadata.name"


def read_ports(candidate: _Candidate, ctx: L4Context) -> list[Problem]:
    problems = []
    raw_ports = candidate.body.get("ports") or []
    if not raw_ports:
        candidate.excluded = True
        return [_problem(candidate.body, "spec.ports", "NoPorts", "the Service has no port; nothing to serve")]
    for index, raw in enumerate(raw_ports):
        protocol = str(raw.get("protocol") or "TCP").upper()
        number = raw.get("port")
        if not isinstance(number, int) or not 0 < number < 65536:
            problems.append(_problem(candidate.body, f"spec.ports[{index}].port", "InvalidPort",
                                     f"{quoted(number)} is not a port number; the Service is not served"))
            continue
        if protocol not in PROTOCOLS:
            problems.append(_problem(candidate.body, f"spec.ports[{index}].protocol", "UnsupportedProtocol",
                                     f"protocol {protocol} cannot be load balanced; the Service is not served"))
            continue
        if protocol == "SCTP" and not ctx.sctp_supported:
            problems.append(_problem(
                candidate.body, f"spec.ports[{index}].protocol", "UnsupportedProtocol",
                "SCTP needs Avi controller 22.1.1 or later; the Service is not served until this port is "
                "removed or the controller upgraded"))
            continue
        target = raw.get("target_port")
        node_port = raw.get("node_port")
        candidate.ports.append(ServicePort(
            index=index, name=str(raw.get("name") or ""), protocol=protocol, port=number,
            target_port=target if isinstance(target, (int, str)) and target != "" else None,
            node_port=node_port if isinstance(node_port, int) else None))
    if problems:
        candidate.excluded = True
    return problems


def preferred_ip(service: Mapping[str, Any]) -> tuple[str, str]:
    """(address text, field it came from); the annotation wins over `spec.loadBalancerIP`."""
    from_annotation = str(service_annotations(service).get(LB_IP_ANNOTATION) or "").strip()
    if from_annotation:
        return from_annotation, annotation_field(LB_IP_ANNOTATION)
    from_spec = str(service.get("load_balancer_ip") or "").strip()
    return (from_spec, "spec.loadBalancerIP") if from_spec else ("", "")


def reserved_address(address: IPAddress, subnet: IPNetwork | None) -> str:
    """What `address` is in `subnet` if no host may have it: "network address", "broadcast address", or ""."""
    if subnet is None or address not in subnet or subnet.num_addresses <= 2:
        return ""  # a /31 or /32 (/127, /128) has no network or broadcast address to spare
    if address == subnet.network_address:
        return "network address" if subnet.version == 4 else "network address (subnet-router anycast)"
    if subnet.version == 4 and address == subnet.broadcast_address:
        return "broadcast address"
    return ""


def check_preferred_ip(service: Mapping[str, Any], ctx: L4Context, *,
                       fallback: tuple[str, str] = ("", "")) -> tuple[IPAddress | None, list[Problem]]:
    """`fallback`: (address, field) used when the Service names none itself (an L4Rule's `loadBalancerIP`)."""
    text, where = preferred_ip(service)
    if not text:
        text, where = fallback
    if not text:
        return None, []
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None, [_problem(service, where, "InvalidLoadBalancerIP",
                               f"{quoted(text)} is not an IP address; the virtual service is not created")]
    subnet = ctx.vip_cidr if address.version == 4 else ctx.vip_v6cidr
    if subnet is not None and address not in subnet:
        return None, [_problem(service, where, "LoadBalancerIPOutsideVipNetwork",
                               f"{address} is outside the VIP network {ctx.vip_network} ({subnet}); "
                               "the virtual service is not created")]
    reserved = reserved_address(address, subnet)
    if reserved:
        return None, [_problem(service, where, "LoadBalancerIPReserved",
                               f"{address} is the {reserved} of the VIP network {ctx.vip_network} ({subnet}), which "
                               "no virtual service can use; the virtual service is not created")]
    if subnet is None and ctx.vip_network and address.version == 6:
        return None, [_problem(service, where, "LoadBalancerIPOutsideVipNetwork",
                               f"{address} is IPv6 but the VIP network {ctx.vip_network} has no IPv6 subnet "
                               "([network] vip_networks[0].v6cidr); the virtual service is not created")]
    return address, []


def translate_l4(*, key: str, services: Sequence[Mapping[str, Any]],
                 endpoints: Mapping[str, Sequence[Mapping[str, Any]]], nodes: Sequence[Mapping[str, Any]],
                 ctx: L4Context, pods: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                 l4rules: L4Rules | None = None) -> L4Result:
    """The desired objects of one L4 key (empty when it must not exist) and the problems found.

    `endpoints` and `pods` (NodePortLocal mode: the pods each Service selects) are keyed by Service name;
    `l4rules` the L4Rules the Services may name (`l4rule_apply` says what each changes).
    """
    pods = pods or {}
    name = vs_name_of_key(key)
    problems: list[Problem] = []
    hostnames: dict[str, str] = {str(s.get("name", "")): "" for s in services}
    rules: dict[str, L4RuleEffect] = {}  # Service name -> the L4Rule acting on it
    notes: dict[ObjectRef, list[str]] = {}  # L4Rule -> its fields that found nothing to apply to

    def result(objects: tuple[AviObject, ...] = (), served: tuple[str, ...] = ()) -> L4Result:
        acting = {svc: rule_ref(e) for svc, e in rules.items() if svc in served}
        return L4Result(objects=objects, problems=tuple(problems), hostnames=hostnames, vs_name=name, served=served,
                        l4_rules=acting, l4rule_notes={ref: tuple(dict.fromkeys(found)) for ref, found in notes.items()
                                                       if objects and found})

    # Services of another type or key are not this key's (the caller filters; this is a guard).
    mine = [_Candidate(s) for s in services
            if s.get("type") == "LoadBalancer" and service_vs_name(service=s, cluster=ctx.cluster) == name]
    if not mine:
        return result()

    # 1. One owner per virtual service name: the oldest.
    owners: dict[tuple[str, str], list[_Candidate]] = {}
    for candidate in mine:
        owners.setdefault(_owner(candidate.body), []).append(candidate)
    winner = min(owners, key=lambda o: min(c.age for c in owners[o]))
    for contender, members in sorted(owners.items()):
        if contender != winner:
            problems += [_problem(c.body, _name_field(c.body), "VirtualServiceNameClash",
                                  f"virtual service {name} already belongs to an older Service; rename this one")
                         for c in members]
    group = sorted(owners[winner], key=lambda c: c.name)
    namespace, shared = group[0].namespace, shared_vip_key(group[0].body)

    # 2. The virtual service's name.
    if too_long(name):
        problems += [_problem(c.body, _name_field(c.body), "NameTooLong",
                              f"virtual service name {name[:60]}... has {len(name)} characters, more than "
                              f"the controller's {MAX_NAME_LENGTH}; shorten the name") for c in group]
        return result()

    # 3. Ports: protocols, pool names, one listener per port and protocol (oldest Service first).
    taken: dict[tuple[int, str], str] = {}
    for candidate in sorted(group, key=lambda c: c.age):
        problems += read_ports(candidate, ctx)
        if candidate.excluded:
            continue
        own: set[tuple[int, str]] = set()
        for port in candidate.ports:
            pool = pool_name(cluster=ctx.cluster, namespace=namespace, service=candidate.name,
                             protocol=port.protocol, port=port.port, shared_key=shared)
            listener = (port.port, port.protocol)
            if too_long(pool):
                problems.append(_problem(candidate.body, "metadata.name", "NameTooLong",
                                         f"pool name {pool[:60]}... has {len(pool)} characters, more than the "
                                         f"controller's {MAX_NAME_LENGTH}; the Service is not served"))
                candidate.excluded = True
                break
            if listener in taken or listener in own:
                holder = taken.get(listener, candidate.name)
                problems.append(_problem(candidate.body, f"spec.ports[{port.index}].port", "DuplicateListenerPort",
                                         f"{port.protocol} port {port.port} of virtual service {name} is already "
                                         f"served for Service {holder}; this Service is not served"))
                candidate.excluded = True
                break
            own.add(listener)
        if not candidate.excluded:
            taken.update({listener: candidate.name for listener in own})
    group = [c for c in group if not c.excluded]
    if not group:
        return result()
    for candidate in group:  # the L4Rule each Service names (its problems leave it with the defaults)
        effect, found = resolve(candidate.body, l4rules, candidate.ports)
        problems += found
        if effect is not None:
            rules[candidate.name] = effect

    # 4. The preferred VIP, shared by the whole group.
    chosen: dict[IPAddress, list[_Candidate]] = {}
    ip_problems: list[Problem] = []
    for candidate in group:
        effect = rules.get(candidate.name)
        fallback = (effect.load_balancer_ip, f"L4Rule {effect.ref.namespace}/{effect.ref.name} spec.loadBalancerIP"
                    ) if effect is not None else ("", "")
        address, found = check_preferred_ip(candidate.body, ctx, fallback=fallback)
        ip_problems += found
        if address is not None:
            chosen.setdefault(address, []).append(candidate)
    if len(chosen) > 1:
        listed = ", ".join(sorted(map(str, chosen)))
        ip_problems += [_problem(c.body, preferred_ip(c.body)[1], "SharedVipIPConflict",
                                 f"the Services of shared VIP '{shared}' ask for different addresses ({listed}); "
                                 "the virtual service is not created until they agree")
                        for members in chosen.values() for c in members]
    if ip_problems:
        problems += ip_problems
        return result()
    preferred = next(iter(chosen), None)

    # 5. Host names, then the objects.
    return result(*_build(name=name, namespace=namespace, shared=shared, group=group, preferred=preferred,
                          endpoints=endpoints, nodes=nodes, pods=pods, ctx=ctx, problems=problems,
                          hostnames=hostnames, rules=rules, notes=notes))


def _build(*, name: str, namespace: str, shared: str, group: list[_Candidate], preferred: IPAddress | None,
           endpoints: Mapping[str, Sequence[Mapping[str, Any]]], nodes: Sequence[Mapping[str, Any]],
           pods: Mapping[str, Sequence[Mapping[str, Any]]], ctx: L4Context,
           problems: list[Problem], hostnames: dict[str, str], rules: Mapping[str, L4RuleEffect] | None = None,
           notes: dict[ObjectRef, list[str]] | None = None) -> tuple[tuple[AviObject, ...], tuple[str, ...]]:
    rules = rules or {}
    notes = {} if notes is None else notes
    all_fqdns: list[str] = []
    listeners: list[Listener] = []
    pools: list[AviObject] = []
    versions: frozenset[int] = frozenset()
    for candidate in group:
        fqdns, refused = service_fqdns(service=candidate.body, ctx=ctx)
        problems += refused
        hostnames[candidate.name] = fqdns[0] if fqdns else ""
        all_fqdns += [f for f in fqdns if f not in all_fqdns]
        versions |= ip_versions(candidate.body)
        single = len(candidate.ports) == 1
        for port in candidate.ports:
            if port.node_port is None and uses_node_ports(service=candidate.body, ctx=ctx):
                problems.append(_problem(candidate.body, f"spec.ports[{port.index}].nodePort", "NoNodePort",
                                         "the port has no nodePort (allocateLoadBalancerNodePorts: false?); "
                                         "its pool has no servers in NodePort mode"))
            members = servers_of(service=candidate.body, port=port, single_port=single,
                                 endpoints=endpoints.get(candidate.name, ()), nodes=nodes,
                                 pods=pods.get(candidate.name, ()), ctx=ctx)
            pool = pool_name(cluster=ctx.cluster, namespace=namespace, service=candidate.name,
                             protocol=port.protocol, port=port.port, shared_key=shared)
            listeners.append(Listener(port=port.port, protocol=port.protocol, pool=pool, service=candidate.name))
            effect = rules.get(candidate.name)
            body = pool_body(name=pool, ctx=ctx, namespace=namespace, service=candidate.name, port=port,
                             members=members, hostnames=fqdns, shared_key=shared)
            body = apply_to_pool(body, effect.backend(port=port.port, protocol=port.protocol) if effect else None)
            pools.append(AviObject("pool", ctx.tenant, pool, body, subjects=(service_ref(candidate.body),)))
        effect = rules.get(candidate.name)
        if effect is not None:
            notes.setdefault(rule_ref(effect), []).extend(unmatched_backends(effect, candidate.ports))
    listeners.sort(key=lambda item: (item.port, item.protocol, item.service))
    pools.sort(key=lambda obj: obj.name)
    served = tuple(c.name for c in group)
    traffic = not any(is_true(service_annotations(c.body).get(DISABLE_TRAFFIC_ANNOTATION)) for c in group)
    vsvip = AviObject("vsvip", ctx.tenant, name, vsvip_body(
        name=name, ctx=ctx, preferred=preferred, versions=versions, fqdns=all_fqdns))
    policy = AviObject("l4policyset", ctx.tenant, name, l4policyset_body(
        name=name, ctx=ctx, listeners=listeners, namespace=namespace, shared_key=shared))
    # A shared-VIP group takes the VS fields from its oldest Service naming an L4Rule.
    vs_rule = next((rules[c.name] for c in sorted(group, key=lambda c: c.age) if c.name in rules), None)
    body, not_applied = apply_to_vs(vs_body(
        name=name, ctx=ctx, listeners=listeners, namespace=namespace, shared_key=shared, services=served,
        hostnames=all_fqdns, traffic_enabled=traffic), vs_rule)
    if vs_rule is not None and not_applied:
        notes.setdefault(rule_ref(vs_rule), []).extend(not_applied)
    vs = AviObject("virtualservice", ctx.tenant, name, body, role=Role.L4_VS)
    return (vsvip, *pools, policy, vs), served
