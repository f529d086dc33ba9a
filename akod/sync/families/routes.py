"""Static routes: this cluster's routes in the VRF, equal to what the Nodes call for.

The pod CIDRs come from the source `[routes] cni` names (`akod.model.podcidrs`): the Nodes
themselves, or the CNI's own records (Calico BlockAffinities, CiliumNodes, OpenShift
HostSubnets), which are then watched too (resumed, relisted on 410 like any watch); `auto`
watches whichever of those the server serves and picks the source from them and the nodes'
annotations, logging its choice when it changes. Any change of one of these resources marks the
one key, and the diff against the VRF changes exactly the routes whose input changed.

One key, `vrf`. The VRF is not ours: other clusters and people keep routes in it. So the write is
a read-modify-write of `static_routes` that keeps every route not labelled with our cluster, sent
with the `_last_modified` just read; a 412 (someone wrote in between) means read again and retry.

Crash safety: a journal row is written before each PUT and closed after it. A row still open (a
timeout with unknown outcome) is resolved by the next pass, which reads the VRF back: if our
routes are there the row is closed as done, otherwise it is superseded by a new write. The first
pass after the applied state was rebuilt from the controller (a start, a takeover) always reads
the VRF, so a restart with nothing changed writes nothing and drift made by hand is repaired.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from akod.avi import AviClient, AviError, AviPreconditionFailed, AviWriteRefused
from akod.model.objects import AviObject, Role
from akod.model.podcidrs import CNI_RESOURCES, RESOURCE_KINDS, CniView, choose_cni, read_source
from akod.model.problems import ObjectRef, Problem
from akod.model.routes import diff_routes, describe_route, merge_routes, plan_routes, routes_checksum, same_routes
from akod.store import DONE as JOURNAL_DONE
from akod.store import FAILED, INTENT, SUPERSEDED, UNKNOWN, Applied, Desired
from akod.sync.cluster import Change
from akod.sync.contexts import Contexts, build_route_guard
from akod.sync.discovery import ADMIN, ControllerContext, routes_enabled, se_group_owner
from akod.sync.suspects import Ident, Suspect
from akod.sync.family import DONE, Inputs, Outcome, PlannedChange, SyncIO, Translation, hold, requeue

log = logging.getLogger("akod.sync")
KEY = "vrf"
OBJ_TYPE = "vrfcontext"
MAX_412_RETRIES = 8


class RoutesFamily:
    name = "routes"
    key_kinds = frozenset({KEY})
    resources: tuple[str, ...] = ("nodes",)
    subject_kind = "Node"
    own_journal = True

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None:
        self._in = inputs
        self._io = io
        self._verify = True  # the first pass compares with the controller's copy
        self._drifted = False  # the drift check saw the VRF change: a write now is a repair
        self.route_count = 0
        # The CNI source is fixed at start (`routes.cni` is a restart key): it decides what is watched.
        self._cni = inputs.settings.routes.cni
        self.resources = ("nodes", *CNI_RESOURCES.get(self._cni, ()))
        self.optional_resources = frozenset(CNI_RESOURCES["auto"]) if self._cni == "auto" else frozenset()
        self._cr_kinds = tuple(RESOURCE_KINDS[r] for r in self.resources[1:])
        self._chosen = ""

    def _cluster_name(self) -> str:
        return self._in.settings.cluster.name

    # -- keys ------------------------------------------------------------------------------------

    async def on_change(self, change: Change) -> set[str]:
        return {KEY} if change.kind == "Node" or change.kind in self._cr_kinds else set()

    def wanted_keys(self) -> set[str]:
        return {KEY}

    def reassign(self) -> set[str]:
        return {KEY}

    def adopts(self, applied: Applied) -> str | None:
        return None

    def summary(self) -> dict[str, Any]:
        return {"static_routes": self.route_count}

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        self._verify = True

    def drifted(self, key: str, found: Mapping[Ident, Suspect]) -> None:
        """The VRF changed on the controller (maybe only other clusters' routes): read it again."""
        self._verify = True
        self._drifted = True

    # -- the key ---------------------------------------------------------------------------------

    def _source_unserved(self) -> list[str]:
        """The resources of an explicitly configured source that the server does not serve."""
        if self._cni == "auto" or not routes_enabled(self._in.settings):
            return []
        return [r for r in CNI_RESOURCES.get(self._cni, ()) if r in self._in.unserved]

    def _source(self) -> CniView:
        """The pod-CIDR source read from the cluster cache; `auto`'s choice logged when it changes."""
        cache = self._in.cluster
        served = {r for r in CNI_RESOURCES["auto"] if r in self.resources and r not in self._in.unserved}
        cni, why = choose_cni(self._cni, served=served, node_bodies=cache.nodes.values())
        if cni != self._chosen:
            log.info("pod CIDRs of the static routes come from %s (%s)", cni, why)
            self._chosen = cni
        return read_source(cni, objects=cache.other)

    async def translate(self, key: str) -> Translation:
        cluster = self._cluster_name()
        plan = plan_routes(cluster=cluster, node_bodies=self._in.cluster.node_bodies(),
                           enabled=routes_enabled(self._in.settings), guard=build_route_guard(self._in.settings),
                           cni=self._source(), versions=self._in.settings.network.ip_versions)
        ctl = self._in.controller
        objects: tuple[AviObject, ...] = ()
        if ctl is not None:
            ours = plan.to_avi(cluster=cluster)
            objects = (AviObject(OBJ_TYPE, ADMIN, ctl.vrf, {"static_routes": ours}, role=Role.ROUTES),)
        return Translation(key=key, objects=objects, problems=plan.problems,
                           scope=frozenset(ObjectRef(kind="Node", namespace="", name=n) for n in self._in.cluster.nodes),
                           hold=bool(self._source_unserved()))

    async def sync(self, key: str) -> Outcome:
        io = self._io
        ctl = self._in.controller
        assert io is not None and ctl is not None, "sync runs in the daemon, after discovery"
        unserved = self._source_unserved()
        if unserved:
            # The source named in the configuration cannot be read: without it every node looks
            # like it has no pod CIDR, and writing that would withdraw every route that works.
            return hold(f"[routes] cni = {self._cni!r}, but the server serves no {', '.join(unserved)}; "
                        "the routes on the controller stay as they are")
        t = await self.translate(key)
        for kind in ("Node", *self._cr_kinds):
            await io.reporter.replace(kind=kind, problems=_of_kind(t.problems, kind))
        ours: list[dict[str, Any]] = t.objects[0].body["static_routes"]
        cks = routes_checksum(ours)
        await io.store.replace_desired(owner_key=KEY, objects=[Desired(
            obj_type=OBJ_TYPE, tenant=ADMIN, name=ctl.vrf, owner_key=KEY, body={"static_routes": ours}, checksum=cks,
            role=Role.ROUTES)])
        open_rows = [r.id for r in await io.store.journal(states=[INTENT, UNKNOWN], limit=1000) if r.key == KEY]
        applied = await io.store.applied(obj_type=OBJ_TYPE, tenant=ADMIN, name=ctl.vrf)
        if not open_rows and not self._verify and applied is not None and applied.checksum == cks:
            return DONE
        try:
            wrote = await self._converge(io=io, ctl=ctl, ours=ours, cks=cks, open_rows=open_rows)
        except AviError as exc:
            return requeue(reason=f"{type(exc).__name__}: {exc}")
        except _KeptChanging as exc:
            return requeue(reason=str(exc))
        if wrote and self._drifted and applied is not None and applied.checksum == cks and io.drift is not None:
            io.drift.repaired(obj_type=OBJ_TYPE, name=ctl.vrf, how="edited")  # our routes were changed by hand
        self._verify = self._drifted = False
        if self.route_count != len(ours) or applied is None or applied.checksum != cks:
            log.info("Number of static routes %d", len(ours))
        self.route_count = len(ours)
        return DONE

    async def _converge(self, *, io: SyncIO, ctl: ControllerContext, ours: Sequence[dict[str, Any]], cks: str,
                        open_rows: list[int]) -> bool:
        """Make the VRF hold `ours` (read-modify-write, 412 retried); True if it had to be written."""
        store, client, cluster = io.store, io.client, self._cluster_name()
        unresolved = list(open_rows)
        for _ in range(MAX_412_RETRIES):
            current = await client.get(f"/api/{OBJ_TYPE}/{ctl.vrf_uuid}", tenant=ADMIN)
            existing = current.get("static_routes") or []
            if same_routes(existing=existing, ours=ours, cluster=cluster):
                for entry in unresolved:
                    await store.journal_outcome(entry_id=entry, state=JOURNAL_DONE, error="resolved by reading back")
                await store.record_applied(self._applied(ctl, cks, current))
                return False
            for entry in unresolved:
                await store.journal_outcome(entry_id=entry, state=SUPERSEDED,
                                            error="not on the controller when read back; written again")
            unresolved = []
            body = dict(current)
            body["static_routes"] = merge_routes(existing=existing, ours=ours, cluster=cluster)
            entry = await store.journal_intent(key=KEY, op="PUT", obj_type=OBJ_TYPE, tenant=ADMIN, name=ctl.vrf,
                                               checksum=cks)
            try:
                result = await client.put(OBJ_TYPE, ctl.vrf_uuid, body, tenant=ADMIN)
            except AviPreconditionFailed as exc:
                log.info("VRF %s changed while we wrote it (412); reading it again", ctl.vrf)
                await store.journal_outcome(entry_id=entry, state=SUPERSEDED, error=f"412: {exc}")
                continue
            except AviWriteRefused as exc:
                await store.journal_outcome(entry_id=entry, state=SUPERSEDED, error=f"not sent: {exc}")
                raise
            except AviError as exc:
                if exc.status in (400, 403, 404):
                    await store.journal_outcome(entry_id=entry, state=FAILED, error=str(exc))
                else:
                    # Outcome unknown (5xx after retries, connection lost): the row stays open and
                    # the next pass resolves it by reading the VRF back.
                    await store.journal_attempt(entry_id=entry, error=str(exc))
                raise
            await store.journal_outcome(entry_id=entry, state=JOURNAL_DONE, applied=self._applied(ctl, cks, result))
            return True
        raise _KeptChanging(f"VRF {ctl.vrf} kept changing under us ({MAX_412_RETRIES} times 412); will retry")

    @staticmethod
    def _applied(ctl: ControllerContext, cks: str, body: Mapping[str, Any]) -> Applied:
        return Applied(obj_type=OBJ_TYPE, tenant=ADMIN, name=ctl.vrf, uuid=ctl.vrf_uuid, checksum=cks, owner_key=KEY,
                       last_modified=str(body.get("_last_modified", "")), role=Role.ROUTES)

    # -- plan and /objects -------------------------------------------------------------------------

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        """Per route: create, update or delete; and the SE group label static routes need."""
        ctl = self._in.controller
        if ctl is None or not translation.objects:
            return []
        cluster = self._cluster_name()
        vrf = await client.get(f"/api/{OBJ_TYPE}/{ctl.vrf_uuid}", tenant=ADMIN)
        diff = diff_routes(existing=vrf.get("static_routes") or [], ours=translation.objects[0].body["static_routes"],
                           cluster=cluster)
        changes = [PlannedChange(action=action, obj_type="static route", name=describe_route(route), owner=ctl.vrf)
                   for action, routes in (("create", diff.add), ("update", diff.update), ("delete", diff.delete))
                   for route in routes]
        if routes_enabled(self._in.settings):
            seg = await client.get(f"/api/serviceenginegroup/{ctl.se_group_uuid}", tenant=ADMIN)
            if se_group_owner(seg) != cluster:
                changes.append(PlannedChange(action="label", obj_type="serviceenginegroup", name=str(seg.get("name")),
                                             owner="clustername"))
        return changes

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None:
        io = self._io
        if io is None or ref.namespace:
            return None
        routes: dict[str, dict[str, Any]] = {}
        state, vrf = "pending", ""
        for d in await io.store.desired(owner_key=KEY):
            vrf = d.name
            applied = await io.store.applied(obj_type=d.obj_type, tenant=d.tenant, name=d.name)
            state = "applied" if applied is not None and applied.checksum == d.checksum else "pending"
            routes.update({str(r.get("route_id")): r for r in d.body.get("static_routes", [])})
        # `<cluster>-<node>-<index>`, or `-<address>-<length>` for a Calico block.
        pattern = re.compile(re.escape(f"{self._cluster_name()}-{ref.name}-") + r"(\d+|[0-9a-f.:]+-\d+)$")
        made = [{"type": "vrfcontext.static_route", "vrf": vrf, "route_id": rid,
                 "prefix": f"{r['prefix']['ip_addr']['addr']}/{r['prefix']['mask']}",
                 "next_hop": r["next_hop"]["addr"], "state": state}
                for rid, r in sorted(routes.items()) if pattern.match(rid)]
        return {"avi_objects": made}


def _of_kind(problems: Sequence[Problem], kind: str) -> list[Problem]:
    return [p for p in problems if p.obj.kind == kind]


class _KeptChanging(Exception):
    """The VRF was written by someone else every time we tried (412 after 412)."""
