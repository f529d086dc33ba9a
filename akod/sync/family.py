"""What an object family is: the seam every kind of Avi configuration plugs into.

A family (static routes, L4 Services, L7 Ingresses, and whatever comes next) is the pairing of
some Kubernetes resources with the Avi objects made from them, in the way controller-runtime's
builder pairs a watched type with a reconciler. A family declares:

- the watched resources it reads (`resources`, names of `akod.kube.resources`);
- how a change of the cluster maps to its keys (`on_change`), and which keys the cluster names
  now (`wanted_keys`); a key is `<kind>:<rest>` and the kinds a family owns are `key_kinds`;
- which of the controller's objects it keeps without any Kubernetes object (`adopts`: a shard's
  shared VIP that must stay stable);
- how one key translates (`translate`: gathers inputs, calls the pure translation of
  `akod.model`; `akod plan` calls exactly this);
- how one key is made true on the controller and written back to Kubernetes (`sync`, the
  daemon only), returning an `Outcome` instead of raising for control flow.

The daemon, `akod plan`, `akod cleanup`, `/status` and `/objects` reach families only through the
`Registry`, so adding a family is one module plus one registry line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from akod.avi import AviClient
from akod.config import Settings
from akod.kube.status import KubeWriter
from akod.model.objects import AviObject
from akod.model.problems import ObjectRef, Problem
from akod.store import Applied, Store
from akod.sync.cluster import Change, ClusterCache
from akod.sync.contexts import Contexts
from akod.sync.crs import AviExists, AviRead, CrState
from akod.sync.discovery import ControllerContext
from akod.sync.owned import OwnedSync
from akod.sync.reporting import ProblemReporter
from akod.sync.suspects import DriftLedger, Ident, Suspect

DONE_STATE, HOLD_STATE, REQUEUE_STATE = "done", "hold", "requeue"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one sync of a key ended: done, held (bad input, nothing to retry) or to be run again.

    A requeue without `after_s` is retried after the engine's capped, jittered backoff.
    """

    state: str
    after_s: float | None = None
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.state == DONE_STATE


DONE = Outcome(DONE_STATE)


def hold(reason: str) -> Outcome:
    """The input is wrong: what is applied stays, the problem is shown, an event wakes the key."""
    return Outcome(HOLD_STATE, reason=reason)


def requeue(*, reason: str, after_s: float | None = None) -> Outcome:
    """Try again in `after_s` seconds, or after the engine's backoff (the controller refused or failed)."""
    return Outcome(REQUEUE_STATE, after_s=after_s, reason=reason)


@dataclass(frozen=True)
class Translation:
    """One key translated: the objects it must hold, the problems found, and whose problems they are.

    `scope` lists the Kubernetes objects whose problems this translation speaks for (their old
    problems are replaced by `problems`). `hold` says the input left nothing to serve although
    something is wrong: the daemon keeps what is applied until the input is fixed.
    """

    key: str
    objects: tuple[AviObject, ...] = ()
    problems: tuple[Problem, ...] = ()
    scope: frozenset[ObjectRef] = frozenset()
    hold: bool = False
    detail: Any = None  # what the family's write-back needs (VIPs, served hosts...), family-specific


@dataclass(frozen=True)
class PlannedChange:
    """One line of `akod plan`: create, update or delete of one thing on the controller."""

    action: str  # create | update | delete | label
    obj_type: str
    name: str
    owner: str


AppliedLookup = Callable[[str, str, str], Awaitable[Applied | None]]


@dataclass
class Inputs:
    """What translations read besides the cluster: the same object in the daemon and in `akod plan`.

    `settings` is replaced on a reload; `controller` is None until discovery is done; `applied`
    answers what is on the controller for one (type, tenant, name): the store's copy in the daemon,
    the controller's inventory in `akod plan`.
    """

    cluster: ClusterCache
    settings: Settings
    applied: AppliedLookup
    controller: ControllerContext | None = None
    controller_version: str = ""
    api_version: str = ""
    # Watched resources the server serves in no known version (API discovery): a family adapts
    # (no IngressClass API: the class annotation and `[l7] default_ing_controller` decide).
    unserved: frozenset[str] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict)
    # The accepted effects of AKO's custom resources (`akod.sync.crs`): written by the CR families,
    # read by the L7/L4 translations.
    crs: CrState = field(default_factory=CrState)
    # Whether an Avi object exists on the controller, by type and name (a paced GET); None: not asked.
    avi_exists: AviExists | None = None
    # Some fields of an Avi object by type and name (a paced GET); None: not asked (an L4Rule's profile types).
    avi_read: AviRead | None = None


@dataclass
class SyncIO:
    """The edges a family's `sync` writes through: the daemon's, absent in `akod plan`.

    `kube` patches Kubernetes objects through the API each kind was read from (routed once API
    discovery is done), so a family names a kind, never an API version.
    """

    store: Store
    owned: OwnedSync
    reporter: ProblemReporter
    client: AviClient
    kube: KubeWriter | None
    drift: DriftLedger | None = None  # where repairs of drift are counted
    # Marks a key dirty (the engine's `mark`), set once the engine exists: how one family's sync
    # wakes another family's keys (a HostRule's effect changed: the shards of its hosts).
    mark: Callable[..., Awaitable[None]] | None = None


class Family(Protocol):
    """The seam (see the module docstring); `akod.sync.families` holds the implementations."""

    name: str
    key_kinds: frozenset[str]
    resources: tuple[str, ...]
    subject_kind: str  # the Kubernetes kind `/objects?kind=` describes through this family
    # True when the family settles its own open journal rows by reading its object back (routes:
    # the VRF is not part of the inventory rebuilt at start).
    own_journal: bool

    def __init__(self, *, inputs: Inputs, contexts: Contexts, io: SyncIO | None) -> None: ...

    def applied_rebuilt(self, *, inventory: Sequence[Applied]) -> None:
        """The applied state was just read again from the controller (`inventory`: this cluster's
        objects there): verify, do not trust memory."""

    def drifted(self, key: str, found: Mapping[Ident, Suspect]) -> None:
        """The drift check found these objects of `key` changed on the controller: repair at the next sync."""

    async def on_change(self, change: Change) -> set[str]: ...

    def wanted_keys(self) -> set[str]: ...

    def adopts(self, applied: Applied) -> str | None: ...

    def reassign(self) -> set[str]: ...

    async def translate(self, key: str) -> Translation: ...

    async def sync(self, key: str) -> Outcome: ...

    async def plan(self, translation: Translation, *, have: Mapping[tuple[str, str], Applied],
                   client: AviClient) -> list[PlannedChange]:
        ...

    async def describe(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def summary(self) -> dict[str, Any]:
        """A few counts for `/status` (`sync` section) and the start-up log line."""
        ...
