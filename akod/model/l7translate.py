"""One L7 key -> the objects of its shard (or dedicated virtual service), and what keeps more from it.

The input is every accepted Ingress with at least one host on the key; only their hosts on the
key are translated here (an Ingress spanning shards is translated by each). Checks run so that a
fault stops as little as possible: one path, one host of one Ingress, never the shard.

1. The Ingresses are read (`l7hosts`): invalid hosts and paths are reported and left out.
2. Host+path claims: the oldest Ingress (creation time, namespace, name) keeps a host+path
   (an `Exact` and a prefix match of the same path are two claims); a newer one repeating it gets
   `HostPathConflict` on that path, so a newcomer never takes a working route away.
3. TLS: a host an Ingress lists under `spec.tls` is served by that Ingress only over TLS, with the
   certificate of its Secret. A missing Secret (`SecretMissing`) or one that fails the checks of
   `l7certs` (`SecretInvalid`) keeps that Ingress's paths of the host unserved, not the host's
   other Ingresses. The certificate of a host is the one of its oldest Ingress with a usable
   Secret (AKO calls differing certificates for one host "indeterministic").
   Decision: once a host is served over TLS, its paths from Ingresses that do not list it under
   `spec.tls` are served through the SNI child too. AKO would route them on the shared VS, where
   the host's 80 -> 443 redirect shadows them; here they stay reachable, over HTTPS.
4. Backends (`l7backends`): a path whose Service or port does not exist is not served.
   Before all this, the units (an Ingress's paths of one host) the caller leaves out (`leave_out`:
   the controller refused them) are dropped, as if the Ingress did not name the host; the caller
   reports why.
5. Objects. Shared mode: a pool per insecure host+path and a switching rule per path in the
   shard policy set; per TLS host a certificate, an SNI child of the shard VS, per namespace a
   policy set with a rule per path to a pool group (one per path, holding its pool), and a
   redirect rule in the shard policy set. The shard's VsVip (`dns_info`: every served host),
   policy set and VS exist while the shard serves a host, or while `keep_shell` says they were
   applied (a stable VIP: only cleanup removes it). DEDICATED mode: the same per host on its own
   VS, with the certificate on the VS itself and all rules in its own policy set.

Limitation kept from AKO: the paths of one TLS host from several namespaces live in one policy set
per namespace, evaluated namespace by namespace, so a `/` of one namespace shadows a longer path
of the next; within a namespace and on the shared VS, the longest path always wins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from akod.model import l7bodies
from akod.model.l4names import MAX_NAME_LENGTH, too_long
from akod.model.hostrule import HostRuleEffect, HostRules
from akod.model.hostrule_apply import (
    apply_to_vs, dns_names, not_on_plain_host, not_on_sni_child, preferred_vip, with_aliases,
)
from akod.model.httprule import HTTPRules
from akod.model.httprule_apply import with_http_rules
from akod.model.l7backends import Backend, resolve_backend
from akod.model.l7certs import check_tls_secret
from akod.model.l7context import L7Context, L7Result, SecretLike, ServedHost, Unit, ingress_age
from akod.model.l7hosts import HostPath, ParsedIngress, host_problem, parse_ingress
from akod.model.l7names import (
    dedicated_pool_name,
    pool_name,
    shard_key,
    sni_policy_name,
    sni_pool_name,
    sni_vs_name,
    vs_name_of_key,
)
from akod.model.l7rules import RULE_NAME_SEPARATOR, Route, group_checksum, host_rules, indexed, named_group
from akod.model.objects import AviObject
from akod.model.problems import ObjectRef, Problem

IngId = tuple[str, str]
Certs = dict[str, tuple[str, str]]


def _problem(entry: HostPath, where: str, reason: str, message: str) -> Problem:
    return Problem(obj=ObjectRef(kind="Ingress", namespace=entry.namespace, name=entry.ingress), field=where,
                   reason=reason, message=message)


def _claims(parsed: Sequence[ParsedIngress], on_key: Callable[[str], bool], problems: list[Problem]) -> list[HostPath]:
    """The routes on the key that their Ingress holds: the oldest claim of each host+path."""
    holders: dict[tuple[str, str, bool], HostPath] = {}
    for ingress in parsed:
        for entry in ingress.paths:
            if not on_key(entry.host):
                continue
            holder = holders.setdefault(entry.route, entry)
            if holder is entry:
                continue
            route = f"{entry.host}{entry.path}"
            if (holder.namespace, holder.ingress) == (entry.namespace, entry.ingress):
                message = f"{route} is already routed by {holder.field} of this Ingress; this path is not served"
            else:
                message = (f"{route} is already served for the older Ingress {holder.namespace}/{holder.ingress}; "
                           "this path is not served")
            problems.append(_problem(entry, f"{entry.field}.path", "HostPathConflict", message))
    return list(holders.values())


def _certificates(*, parsed: Sequence[ParsedIngress], on_key: Callable[[str], bool],
                  secrets: Mapping[tuple[str, str], SecretLike], ctx: L7Context,
                  problems: list[Problem]) -> tuple[Certs, set[tuple[str, str, str]]]:
    """Each TLS host's (certificate, key), and the (namespace, Ingress, host) left unserved."""
    certs: Certs = {}
    blocked: set[tuple[str, str, str]] = set()
    for ingress in parsed:
        ref = ingress.ref
        for host in ingress.hosts:
            claim = ingress.tls.get(host)
            if claim is None or not on_key(host) or host_problem(host) is not None:
                continue
            blocked.add((ref.namespace, ref.name, host))
            if not claim.secret:
                problems.append(Problem(obj=ref, field=claim.field, reason="SecretMissing",
                                        message=f"spec.tls lists {host} without a secretName; it is not served"))
                continue
            secret = secrets.get((ref.namespace, claim.secret))
            if secret is None:
                problems.append(Problem(
                    obj=ref, field=claim.field, reason="SecretMissing",
                    message=f"Secret {ref.namespace}/{claim.secret} does not exist (or is not of type "
                            f"kubernetes.io/tls); {host} is served once it does"))
                continue
            pair, problem = check_tls_secret(material=secret.material, secret_ref=ObjectRef(
                kind="Secret", namespace=ref.namespace, name=claim.secret), ingress_ref=ref, field=claim.field,
                now=ctx.now)
            if problem is not None:
                problems.append(problem)
                continue
            blocked.discard((ref.namespace, ref.name, host))
            if pair is not None:
                certs.setdefault(host, pair)
    return certs, blocked


def _hostrule_secret(effect: HostRuleEffect, *, secrets: Mapping[tuple[str, str], SecretLike],
                     ctx: L7Context) -> tuple[str, str] | None:
    """The (certificate, key) of the Secret a HostRule names, if it is there and usable."""
    secret = secrets.get((effect.ref.namespace, effect.secret_certificate))
    if secret is None:
        return None
    pair, _ = check_tls_secret(material=secret.material, secret_ref=ObjectRef(
        kind="Secret", namespace=effect.ref.namespace, name=effect.secret_certificate), ingress_ref=effect.ref,
        field="spec.virtualhost.tls.sslKeyCertificate.name", now=ctx.now)
    return pair


class _Assembly:
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
            self.problems.append(_problem(
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
            self.problems.append(_problem(
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
                self.add(obj, units=[_unit(entry)])
            self.http_used.setdefault(entry.host, set()).update(settings.rules)
        self.add(made, units=[_unit(entry)])
        return True


def _unit(entry: HostPath) -> Unit:
    return entry.namespace, entry.ingress, entry.host


def _shared(*, vs_name: str, backends: Sequence[Backend], certs: Certs, keep_shell: bool,
            out: _Assembly) -> None:
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
                                        ingress=e.ingress, host=e.host, path=e.path), units=[_unit(e)])
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


def _dedicated(*, vs_name: str, backends: Sequence[Backend], certs: Certs, keep_shell: bool,
               out: _Assembly) -> None:
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


def _without(ingress: ParsedIngress, leave_out: frozenset[Unit]) -> ParsedIngress:
    """`ingress` without the paths of the units left out."""
    ns, name = ingress.ref.namespace, ingress.ref.name
    if not any(u[0] == ns and u[1] == name for u in leave_out):
        return ingress
    return dataclasses.replace(ingress, paths=tuple(p for p in ingress.paths if (ns, name, p.host) not in leave_out))


def translate_l7(*, key: str, ingresses: Sequence[Mapping[str, Any]],
                 services: Mapping[tuple[str, str], Mapping[str, Any]],
                 endpoints: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]],
                 nodes: Sequence[Mapping[str, Any]], secrets: Mapping[tuple[str, str], SecretLike],
                 ctx: L7Context, keep_shell: bool, leave_out: frozenset[Unit] = frozenset(),
                 pods: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]] | None = None,
                 host_rules: HostRules | None = None, http_rules: HTTPRules | None = None) -> L7Result:
    """The desired objects of one L7 key (empty when it must not exist) and the problems found.

    `services` and `secrets` are keyed by (namespace, name), `endpoints` and `pods` (NodePortLocal
    mode: the pods each Service selects) by the Service's (namespace, name); `keep_shell` keeps the
    shard's VsVip, policy set and VS with no host served; `leave_out` names units not to serve (the
    caller says why); `host_rules` are the accepted HostRules (`hostrule_apply` says what each changes),
    `http_rules` the accepted HTTPRules (`httprule_apply`).
    """
    vs_name = vs_name_of_key(key)
    problems: list[Problem] = []

    def key_of(host: str) -> str:
        return shard_key(cluster=ctx.cluster, host=host, shards=ctx.shards, infra=ctx.infra)

    def on_key(host: str) -> bool:
        return key_of(host) == key

    parsed = [_without(parse_ingress(ingress=ingress, ctx=ctx), leave_out)
              for ingress in sorted(ingresses, key=ingress_age)]
    unit_fields: dict[Unit, str] = {}
    for ingress in parsed:
        for entry in ingress.paths:
            if on_key(entry.host):
                unit_fields.setdefault(_unit(entry), entry.field.split(".http.")[0] + ".host")
    for ingress in parsed:
        home = min((key_of(h) for h in ingress.hosts), default="")
        problems += [p.problem for p in ingress.problems if (on_key(p.host) if p.host else home == key)]
    routes = _claims(parsed, on_key, problems)
    certs, blocked = _certificates(parsed=parsed, on_key=on_key, secrets=secrets, ctx=ctx, problems=problems)
    rules = host_rules or HostRules()
    if rules:
        for entry in routes:  # a HostRule's certificate replaces the Secret's, or makes the host TLS
            effect = rules.for_host(entry.host)
            if effect is None:
                continue
            if effect.secret_certificate:
                pair = _hostrule_secret(effect, secrets=secrets, ctx=ctx)
                if pair is not None:  # else the HostRule is rejected (its family says why): the Ingress's stays
                    certs[entry.host] = pair
                    blocked.difference_update({u for u in blocked if u[2] == entry.host})
            elif effect.certificates:
                certs[entry.host] = ("", "")
    backends: list[Backend] = []
    for entry in routes:
        if (entry.namespace, entry.ingress, entry.host) in blocked:
            continue
        backend, found = resolve_backend(entry=entry, services=services, endpoints=endpoints, nodes=nodes, ctx=ctx,
                                         pods=pods)
        problems += found
        if backend is not None:
            backends.append(backend)
    out = _Assembly(ctx, problems, rules, http_rules=http_rules)
    build = _dedicated if ctx.dedicated else _shared
    build(vs_name=vs_name, backends=backends, certs=certs, keep_shell=keep_shell, out=out)
    served = {(p.ref.namespace, p.ref.name): tuple(sorted(out.served.get((p.ref.namespace, p.ref.name), ())))
              for p in parsed}
    objects = tuple(sorted(out.objects.values(), key=lambda o: (o.rank, o.name)))
    return L7Result(objects=objects, problems=tuple(dict.fromkeys(problems)), served=served, vs_name=vs_name,
                    units={ident: frozenset(units) for ident, units in out.units.items()},
                    rule_groups=dict(out.rule_groups), unit_fields=unit_fields,
                    host_rules={host: e.ref for host, e in sorted(out.rules_used.items())},
                    hostrule_not_applied={ref: tuple(sorted(f)) for ref, f in out.not_applied.items()},
                    http_rules={host: tuple(sorted(refs, key=str)) for host, refs in sorted(out.http_used.items())})
