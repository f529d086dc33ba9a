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
5. Objects (built by `l7assembly`, with the CRs' effects). Shared mode: a pool per insecure host+path and a switching rule per path in the
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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from akod.model.hostrule import HostRuleEffect, HostRules
from akod.model.httprule import HTTPRules
from akod.model.l7assembly import Assembly, Certs, build_dedicated, build_shared, unit_of
from akod.model.l7assembly import problem_of as _problem
from akod.model.l7backends import Backend, resolve_backend
from akod.model.l7certs import check_tls_secret
from akod.model.l7context import L7Context, L7Result, SecretLike, Unit, ingress_age
from akod.model.l7hosts import HostPath, ParsedIngress, host_problem, parse_ingress
from akod.model.l7names import shard_key, vs_name_of_key
from akod.model.problems import ObjectRef, Problem


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
                unit_fields.setdefault(unit_of(entry), entry.field.split(".http.")[0] + ".host")
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
    out = Assembly(ctx, problems, rules, http_rules=http_rules)
    build = build_dedicated if ctx.dedicated else build_shared
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
