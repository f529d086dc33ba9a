"""HostRule: AKO's per-host virtual service properties, accepted or rejected, and their effect recorded.

A key is `hostrule:<namespace>/<name>`. The family makes no controller object itself: its sync
decides whether the HostRule is accepted (`akod.model.hostrule`: the fields, the FQDN not held by
an older HostRule, every Avi object it names existing on the controller), writes
`status.status`/`status.error` (only when Kubernetes shows something else, only as the leader),
and records the accepted spec as the HostRule's effect (`akod.sync.crs.CrState`, kept in the state
database). The L7 family applies the effects in its translation (`akod.model.hostrule_apply`);
when an effect changes, this family marks exactly the L7 keys of the hosts the old and the new
spec match, so each changed object is written once.

A HostRule that is rejected changes nothing. One that was accepted and is then edited into
something invalid is reported (Rejected, the error naming the field, a problem in `/status` and
an Event) and its last accepted effect stays, across restarts too. Deleting it removes the effect:
the hosts get back exactly what they had without it. A field akod reads but does not apply is
named in a warning Event once per spec (Accepted all the same). A HostRule rejected because an Avi
object is missing is checked again every `[sync] drift_check_s`, so that it is accepted once the
object exists. Those steps are every CR family's (`akod.sync.crlifecycle.CrFamily`); this module
holds what is HostRule's own: its judging, which other HostRules a change wakes, the wording.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from akod.model.hostrule import (
    KIND, MODELS, HostRuleEffect, claims_of, conflict, fqdn_of, parse_hostrule, secret_of, winners,
)
from akod.model.l7certs import check_tls_secret
from akod.model.problems import ObjectRef, Problem
from akod.sync.cluster import Change
from akod.sync.crlifecycle import Body, CrFamily, Decision
from akod.sync.crs import Ident

KEY_KIND = "hostrule"


class HostRuleFamily(CrFamily[HostRuleEffect, Decision[HostRuleEffect]]):
    name = "hostrule"
    key_kinds = frozenset({KEY_KIND})
    resources: tuple[str, ...] = ("hostrules", "secrets")  # Secrets: a certificate of `type: secret`
    subject_kind = KIND
    kind = KIND
    key_kind = KEY_KIND

    async def on_change(self, change: Change) -> set[str]:
        if change.kind == "Secret":  # judged again: the certificate of `type: secret` appeared, changed, went
            named = set(change.idents())
            return {self._key_of(ident) for ident, body in self._bodies().items()
                    if (ident[0], secret_of(body)) in named}
        if change.kind != KIND:
            return set()
        keys: set[str] = set()
        fqdns: set[str] = set()
        for ident in change.idents():
            keys.add(self._key_of(ident))
            for body in (change.before.get(ident), self._bodies().get(ident)):
                if body:
                    fqdns.update(claims_of(body))
        # The others claiming one of these names (FQDN or alias) may win it, or lose it, now.
        keys |= {self._key_of(ident) for ident, body in self._bodies().items() if fqdns.intersection(claims_of(body))}
        return keys

    def _gone(self, ref: ObjectRef) -> Decision[HostRuleEffect]:
        return Decision(ref=ref, body=None)

    async def _judge(self, *, ident: Ident, ref: ObjectRef, body: Body) -> Decision[HostRuleEffect]:
        effect, verdict = parse_hostrule(body)
        problems = list(verdict.problems)
        lost = winners(self._bodies().values()).get(ref)
        if lost is not None:
            holder, name = lost
            problems.insert(0, conflict(obj=ref, holder=holder, fqdn=name, alias=name != fqdn_of(body)))
        if effect is not None and effect.secret_certificate:
            problems += self._secret_problems(ref, effect.secret_certificate)
        missing: list[Problem] = []  # a problem for each named Avi object that is missing
        if not problems:
            missing = await self._check_refs(ident=ident, ref=ref, body=body, refs=verdict.refs, models=MODELS)
            problems += missing
        return Decision(ref=ref, body=body, effect=None if problems else effect, problems=tuple(problems),
                        unsupported=verdict.unsupported, missing_refs=bool(missing))

    def _secret_problems(self, ref: ObjectRef, name: str) -> list[Problem]:
        """A certificate of `type: secret`: the Secret must exist in the HostRule's namespace and be usable."""
        where = "spec.virtualhost.tls.sslKeyCertificate.name"
        secret = self._in.cluster.secrets.get((ref.namespace, name))
        if secret is None:
            return [Problem(obj=ref, field=where, reason="SecretMissing",
                            message=f"Secret {ref.namespace}/{name} does not exist (or is not of type "
                                    "kubernetes.io/tls)")]
        _, problem = check_tls_secret(material=secret.material, secret_ref=ObjectRef(
            kind="Secret", namespace=ref.namespace, name=name), ingress_ref=ref, field=where, now=dt.datetime.now(dt.timezone.utc))
        return [problem] if problem is not None else []

    def _parse_effect(self, body: Mapping[str, Any]) -> HostRuleEffect | None:
        return parse_hostrule(body)[0]

    def _accepted_note(self, effect: HostRuleEffect) -> str:
        return f" for {effect.fqdn}"

    def _not_applied_message(self, fields: str) -> str:
        return f"akod does not apply {fields} yet (README, HostRule); the rest of the HostRule is applied"
