"""The objects of one L7 key as they are assembled: a shard (shared mode) or a host's own VS (DEDICATED).

`akod.model.l7translate` reads the Ingresses, settles claims and certificates and resolves the
backends; what is left is building the objects from the served backends, which this module does:
`Assembly` collects them (deduplicated by type and name, with the units each was made for, who is
served where, the HostRules and HTTPRules used), `build_shared` makes a shard's pools, SNI
children, policy sets, VsVip and VS, `build_dedicated` a host's own VS. The HostRule, HTTPRule and
AviInfraSetting effects are applied here, through their pure `*_apply` modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from akod.model import l7bodies
from akod.model.hostrule import HostRuleEffect, HostRules
from akod.model.hostrule_apply import (
    apply_to_vs, dns_names, not_on_plain_host, not_on_sni_child, preferred_vip, with_aliases,
)
from akod.model.httprule import HTTPRules
from akod.model.httprule_apply import with_http_rules
from akod.model.l4names import MAX_NAME_LENGTH, too_long
from akod.model.l7backends import Backend
from akod.model.l7context import L7Context, ServedHost, Unit
from akod.model.l7hosts import HostPath
from akod.model.l7names import dedicated_pool_name, pool_name, sni_policy_name, sni_pool_name, sni_vs_name
from akod.model.l7rules import RULE_NAME_SEPARATOR, Route, group_checksum, host_rules, indexed, named_group
from akod.model.objects import AviObject
from akod.model.problems import ObjectRef, Problem

IngId = tuple[str, str]
Certs = dict[str, tuple[str, str]]


def problem_of(entry: HostPath, where: str, reason: str, message: str) -> Problem:
    return Problem(obj=ObjectRef(kind="Ingress", namespace=entry.namespace, name=entry.ingress), field=where,
                   reason=reason, message=message)


class Assembly:
    """The objects of a key as they are built, deduplicated by type and name, and who is served where."""

    def __init__(self, ctx: L7Context, problems: list[Problem], rules: HostRules | None = None, *,
                 http_rules: HTTPRules | None = None) -> None:
        self.ctx = ctx
        self.problems = problems
        self.rules = rules or HostRules()
        self.http_rules = http_rules or HTTPRules()
        self.http_used: dict[str, set[ObjectRef]] = {}  # host -> the HTTPRules acting on its pools here
        self.rules_used: dict[str, HostRuleEffect] = {}  # host -> the HostRule acting on it here
        self.not_applied: dict[ObjectRef, set[str]] = {}  # HostRule -> "<field>: <why>" it could not apply
        self.objects: dict[tuple[str, str], AviObject] = {}
        self.served: dict[IngId, set[ServedHost]] = {}
        self.units: dict[tuple[str, str], set[Unit]] = {}
        self.rule_groups: dict[str, str] = {}
        self._pool_backends: dict[str, tuple[str, int]] = {}

    def add(self, obj: AviObject, units: Iterable[Unit] = ()) -> None:
        ident = (obj.obj_type, obj.name)
        self.objects.setdefault(ident, obj)
        made_for = set(units)
        if made_for:
            self.units.setdefault(ident, set()).update(made_for)

    def serve(self, entry: HostPath, vs_name: str) -> None:
        self.served.setdefault((entry.namespace, entry.ingress), set()).add(ServedHost(entry.host, vs_name))

    def rule(self, host: str) -> HostRuleEffect | None:
        """The accepted HostRule acting on `host` (noted for `/objects` and `plan`)."""
        effect = self.rules.for_host(host)
        if effect is not None:
            self.rules_used[host] = effect
        return effect

    def names_fit(self, entry: HostPath, names: Sequence[str]) -> bool:
        long = next((n for n in names if too_long(n)), None)
        if long is not None:
            self.problems.append(problem_of(
                entry, f"{entry.field}.path", "NameTooLong",
                f"object name {long[:60]}... has {len(long)} characters, more than the controller's "
                f"{MAX_NAME_LENGTH}; {entry.host}{entry.path} is not served"))
        return long is None

    def pool(self, name: str, backend: Backend) -> bool:
        """Add the pool of `backend`; False when another backend of the Ingress already has its name."""
        entry = backend.entry
        ident = (entry.service, backend.port.port)
        seen = self._pool_backends.setdefault(name, ident)
        if seen != ident:
            self.problems.append(problem_of(
                entry, f"{entry.field}.path", "PoolNameClash",
                f"pool {name} already serves another path of this Ingress with another backend ('/' and '_' "
                "give the same pool name); this path is not served"))
            return False
        made = l7bodies.pool(name=name, ctx=self.ctx, namespace=entry.namespace, ingress=entry.ingress,
                             host=entry.host, path=entry.path, service=entry.service, port=backend.port,
                             members=backend.members)
        settings = self.http_rules.for_pool(namespace=entry.namespace, host=entry.host, path=entry.path)
        if settings:  # the HTTPRules of the host's target paths (`httprule_apply`)
            made, pki = with_http_rules(made, settings, ctx=self.ctx)
            if pki is not None and not self.names_fit(entry, (pki.name,)):
                return False
            for obj in (pki,) if pki is not None else ():
                self.add(obj, units=[unit_of(entry)])
            self.http_used.setdefault(entry.host, set()).update(settings.rules)
        self.add(made, units=[unit_of(entry)])
        return True


def unit_of(entry: HostPath) -> Unit:
    return entry.namespace, entry.ingress, entry.host


def build_shared(*, vs_name: str, backends: Sequence[Backend], certs: Certs, keep_shell: bool,
            out: Assembly) -> None:
    ctx, cluster = out.ctx, out.ctx.cluster
    insecure: dict[str, list[Route]] = {}
    sni: dict[str, dict[str, list[Route]]] = {}
    sni_users: dict[str, set[str]] = {}
    for backend in backends:
        e = backend.entry
        if e.host in certs:
            name = sni_pool_name(cluster=cluster, host=e.host, path=e.path, namespace=e.namespace, ingress=e.ingress,
                                 infra=ctx.infra)
            child = sni_vs_name(cluster=cluster, host=e.host, infra=ctx.infra)
            policy = sni_policy_name(cluster=cluster, namespace=e.namespace, host=e.host, infra=ctx.infra)
            if not out.names_fit(e, (name, child, policy)) or not out.pool(name, backend):
                continue
            out.add(l7bodies.pool_group(name=name, ctx=ctx, pool_name=name, namespace=e.namespace,
                                        ingress=e.ingress, host=e.host, path=e.path), units=[unit_of(e)])
            sni.setdefault(e.host, {}).setdefault(e.namespace, []).append(
                Route(host=e.host, path=e.path, exact=e.exact, pool_group=name))
            sni_users.setdefault(e.host, set()).add(f"{e.namespace}/{e.ingress}")
            out.serve(e, child)
        else:
            effect = out.rule(e.host)
            if effect is not None:
                for where in not_on_plain_host(effect):
                    out.not_applied.setdefault(effect.ref, set()).add(where)
                if effect.enabled is False:
                    continue  # `enableVirtualHost: false` on a plain host: its rules leave the shard
            name = pool_name(cluster=cluster, host=e.host, path=e.path, namespace=e.namespace, ingress=e.ingress,
                             infra=ctx.infra)
            if not out.names_fit(e, (name,)) or not out.pool(name, backend):
                continue
            insecure.setdefault(e.host, []).append(Route(host=e.host, path=e.path, exact=e.exact, pool=name))
            out.serve(e, vs_name)
    for host, namespaces in sorted(sni.items()):
        child = sni_vs_name(cluster=cluster, host=host, infra=ctx.infra)
        cert_pem, key_pem = certs[host]
        users = sorted(sni_users[host])
        subjects = tuple(_ref(user) for user in users)
        host_units = [(s.namespace, s.name, host) for s in subjects]
        if cert_pem:  # not when a HostRule names an Avi certificate instead
            out.add(l7bodies.certificate(name=child, ctx=ctx, host=host, cert_pem=cert_pem, key_pem=key_pem,
                                         subjects=subjects), units=host_units)
        policies = []
        for namespace, routes in sorted(namespaces.items()):
            policy = sni_policy_name(cluster=cluster, namespace=namespace, host=host, infra=ctx.infra)
            sni_rules = indexed(policy, with_aliases(host_rules(host=host, routes=routes, redirect=False),
                                                     out.rule(host)))
            out.add(l7bodies.policy_set(name=policy, ctx=ctx, rules=sni_rules, namespace=namespace, host=host,
                                        subjects=tuple(s for s in subjects if s.namespace == namespace)),
                    units=[u for u in host_units if u[0] == namespace])
            policies.append(policy)
        effect = out.rule(host)
        if effect is not None:
            for where in not_on_sni_child(effect):
                out.not_applied.setdefault(effect.ref, set()).add(where)
        out.add(apply_to_vs(l7bodies.sni_child(name=child, ctx=ctx, parent=vs_name, host=host, certificate=child,
                                               policy_sets=policies, ingresses=users, subjects=subjects),
                            effect), units=host_units)
    hosts = sorted(set(insecure) | set(sni))
    if not hosts and not keep_shell:
        return
    rules: list[dict[str, Any]] = []
    for host in hosts:
        group = with_aliases(host_rules(host=host, routes=insecure.get(host, ()), redirect=host in sni),
                             out.rule(host))
        out.rule_groups[host] = RULE_NAME_SEPARATOR.join((host, group_checksum(group)))
        rules += named_group(host, group)
    gslb = [found for h in hosts if (found := out.rule(h)) is not None]
    out.add(l7bodies.vsvip(name=vs_name, ctx=ctx, hosts=dns_names(hosts, gslb)))
    out.add(l7bodies.policy_set(name=vs_name, ctx=ctx, rules=rules))
    out.add(l7bodies.shard_vs(name=vs_name, ctx=ctx))


def _ref(user: str) -> ObjectRef:
    """An Ingress named `<namespace>/<name>`."""
    namespace, _, name = user.partition("/")
    return ObjectRef(kind="Ingress", namespace=namespace, name=name)


def build_dedicated(*, vs_name: str, backends: Sequence[Backend], certs: Certs, keep_shell: bool,
               out: Assembly) -> None:
    ctx, cluster = out.ctx, out.ctx.cluster
    routes: list[Route] = []
    host = ""
    for backend in backends:
        e = backend.entry
        name = dedicated_pool_name(cluster=cluster, host=e.host, path=e.path, namespace=e.namespace,
                                   ingress=e.ingress, infra=ctx.infra)
        if not out.names_fit(e, (name, vs_name)) or not out.pool(name, backend):
            continue
        host = e.host
        routes.append(Route(host=e.host, path=e.path, exact=e.exact, pool=name))
        out.serve(e, vs_name)
    if not routes and not keep_shell:
        return
    certificate = ""
    if routes and host in certs:
        certificate = sni_vs_name(cluster=cluster, host=host, infra=ctx.infra)
        cert_pem, key_pem = certs[host]
        users = {(ns, ing) for ns, ing in out.served}
        if cert_pem:  # not when a HostRule names an Avi certificate instead
            out.add(l7bodies.certificate(name=certificate, ctx=ctx, host=host, cert_pem=cert_pem, key_pem=key_pem),
                    units=[(ns, ing, host) for ns, ing in sorted(users)])
    effect = out.rule(host) if routes else None
    rules = indexed(vs_name, with_aliases(host_rules(host=host, routes=routes, redirect=bool(certificate)),
                                          effect)) if routes else []
    preferred, why_not = preferred_vip(effect, cidr=ctx.l4.vip_cidr, network=ctx.l4.vip_network)
    if effect is not None and why_not:
        out.not_applied.setdefault(effect.ref, set()).update(why_not)
    out.add(l7bodies.vsvip(name=vs_name, ctx=ctx, hosts=dns_names([host], [effect] if effect else []) if routes else [],
                           preferred=preferred))
    out.add(l7bodies.policy_set(name=vs_name, ctx=ctx, rules=rules, host=host))
    out.add(apply_to_vs(l7bodies.dedicated_vs(name=vs_name, ctx=ctx, host=host, certificate=certificate), effect,
                        dedicated=True))
