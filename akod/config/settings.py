"""The shape of akod's TOML file: one frozen pydantic model per section (CONTRACT.md).

Every section forbids unknown keys, so a misspelt key is an error rather than a silently ignored
line, and every model is frozen, so the settings handed to the daemon cannot drift while it runs
(a SIGHUP reload builds a new `Settings` and compares, see `reload.py`). TOML already types its
values, so validation is strict: `rate = "20"` is an error, not a number. All of a section's
checks live here even when the layer that uses the key is written later: a config that loads is
a config the daemon can run with.

The controller password is deliberately absent: it is read on demand by `secrets.py` and never
stored in, printed with, or compared as part of these models.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from akod.config.errors import problem
from akod.config.values import (
    Cidr,
    ClusterName,
    ControllerAddress,
    ControllerHost,
    ControllerVersion,
    DnsNameOrEmpty,
    FrozenArray,
    IPv4Cidr,
    LabelKey,
    LabelValue,
    Listen,
    NamespaceName,
    NonEmptyStr,
    OptionalIPv6Cidr,
    OptionalPath,
    RequiredPath,
    TcpListen,
    choice_validator,
    parse_controller_address,
)

AutoFqdn = Literal["default", "flat", "disabled"]
ServiceType = Literal["ClusterIP", "NodePort", "NodePortLocal"]
IpFamily = Literal["V4", "V6", "V4_V6"]
# Where the nodes' pod CIDRs come from (AKO's `cniPlugin`; akod.model.podcidrs).
Cni = Literal["auto", "antrea", "calico", "cilium", "ovn-kubernetes", "openshift", "none"]
CNI_CHOICES: Final = ("auto", "antrea", "calico", "cilium", "ovn-kubernetes", "openshift", "none")
CNI_UNSUPPORTED: Final = {
    "flannel": 'flannel uses spec.podCIDRs: write "none" (or "auto")',
    "canal": 'canal (flannel networking) uses spec.podCIDRs: write "none" (or "auto")',
    "ncp": "NSX-T NCP routes the pods itself: set disable_static_route_sync = true",
}
ShardVsSize = Literal["LARGE", "MEDIUM", "SMALL", "DEDICATED"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]

# AKO's lib.ShardSizeMap: the number of shared L7 virtual services; DEDICATED = one VS per host.
SHARD_COUNTS: Final[dict[str, int]] = {"LARGE": 8, "MEDIUM": 4, "SMALL": 1, "DEDICATED": 0}
NODE_NETWORKS_MAX: Final = 5  # AKO's lib.NODE_NETWORK_MAX_ENTRIES


class Section(BaseModel):
    """Common behaviour of every table in the file: strict, closed, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ClusterSettings(Section):
    name: ClusterName
    kubeconfig: OptionalPath = None
    context: str = ""


class ControllerSettings(Section):
    host: ControllerHost
    version: ControllerVersion = ""
    username: NonEmptyStr = "admin"
    password_file: OptionalPath = None
    ca_file: OptionalPath = None
    insecure: bool = False
    tenant: NonEmptyStr = "admin"
    cloud: NonEmptyStr = "Default-Cloud"
    se_group: NonEmptyStr
    vrf: str = ""

    @property
    def address(self) -> ControllerAddress:
        return parse_controller_address(self.host)

    @property
    def base_url(self) -> str:
        """e.g. 'https://10.10.20.43' or 'http://127.0.0.1:9443': no path, no trailing slash."""
        return self.address.base_url

    @model_validator(mode="after")
    def _tls_choice_is_consistent(self) -> ControllerSettings:
        if self.insecure and self.ca_file is not None:
            raise problem(
                "true skips certificate verification, so ca_file would be ignored; set one of them",
                at=("insecure",),
            )
        return self


class VipNetwork(Section):
    name: NonEmptyStr
    cidr: IPv4Cidr
    v6cidr: OptionalIPv6Cidr = None


class NodeNetwork(Section):
    name: NonEmptyStr
    cidrs: Annotated[tuple[Cidr, ...], FrozenArray, Field(min_length=1)]


class NetworkSettings(Section):
    vip_networks: Annotated[tuple[VipNetwork, ...], FrozenArray] = ()
    node_networks: Annotated[
        tuple[NodeNetwork, ...], FrozenArray, Field(max_length=NODE_NETWORKS_MAX)
    ] = ()
    default_domain: DnsNameOrEmpty = ""
    # AKO's ipFamily: which pod and node addresses become pool servers and route next hops.
    ip_family: Annotated[IpFamily, choice_validator(("V4", "V6", "V4_V6"))] = "V4"

    @property
    def ip_versions(self) -> frozenset[int]:
        """The IP versions `ip_family` allows: {4}, {6} or {4, 6}."""
        return frozenset({"V4": {4}, "V6": {6}, "V4_V6": {4, 6}}[self.ip_family])

    @model_validator(mode="after")
    def _network_names_are_unique(self) -> NetworkSettings:
        lists: dict[str, list[str]] = {
            "vip_networks": [network.name for network in self.vip_networks],
            "node_networks": [network.name for network in self.node_networks],
        }
        for key, names in lists.items():
            for index, name in enumerate(names):
                if name in names[:index]:
                    raise problem(f"{name!r} is listed twice", at=(key, index, "name"))
        return self


class Selector(Section):
    """A `label = value` filter; both empty means "no filter"."""

    key: LabelKey = ""
    value: LabelValue = ""

    @property
    def is_set(self) -> bool:
        return bool(self.key)

    @model_validator(mode="after")
    def _both_or_neither(self) -> Selector:
        if self.key and not self.value:
            raise problem(
                f"is empty while key = {self.key!r} is set; set both or neither", at=("value",)
            )
        if self.value and not self.key:
            raise problem(
                f"is empty while value = {self.value!r} is set; set both or neither", at=("key",)
            )
        return self


class RoutesSettings(Section):
    disable_static_route_sync: bool = False
    # The cluster's pod network(s): every node's pod CIDR must lie inside one of them. Empty: a
    # pod CIDR shorter than /16 (IPv4) or /48 (IPv6) is refused instead (akod.model.routes).
    pod_network: Annotated[tuple[Cidr, ...], FrozenArray] = ()
    # The source of the pod CIDRs (AKO's cniPlugin); "auto": by API discovery and node annotations.
    cni: Annotated[Cni, choice_validator(CNI_CHOICES, unsupported=CNI_UNSUPPORTED)] = "auto"

    @model_validator(mode="after")
    def _pod_network_is_not_everything(self) -> RoutesSettings:
        for index, network in enumerate(self.pod_network):
            if network.prefixlen == 0:
                raise problem(f"{str(network)!r} is every address: a node could then route all traffic; "
                              "name the cluster's pod network(s)", at=("pod_network", index))
        return self


class L4Settings(Section):
    default_lb_controller: bool = True
    auto_fqdn: Annotated[AutoFqdn, choice_validator(("default", "flat", "disabled"))] = "default"


class L7Settings(Section):
    service_type: Annotated[
        ServiceType,
        choice_validator(("ClusterIP", "NodePort", "NodePortLocal")),
    ] = "ClusterIP"
    shard_vs_size: Annotated[ShardVsSize, choice_validator(tuple(SHARD_COUNTS))] = "LARGE"
    default_ing_controller: bool = True
    node_port_selector: Selector = Selector()
    # NodePortLocal mode: add `nodeportlocal.antrea.io/enabled: "true"` to the Services akod serves
    # (and take it away when they stop being served), as AKO does unless AUTO_ANNOTATE_SERVICE=false.
    npl_auto_annotate: bool = True

    @property
    def shard_count(self) -> int:
        """How many shared L7 virtual services: 8, 4, 1, or 0 for DEDICATED (one per host)."""
        return SHARD_COUNTS[self.shard_vs_size]


class NamespacesSettings(Section):
    selector: Selector = Selector()
    blocked: Annotated[tuple[NamespaceName, ...], FrozenArray] = ()


class ApiSettings(Section):
    rate: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 20.0
    burst: Annotated[int, Field(ge=1)] = 40
    workers: Annotated[int, Field(ge=1, le=64)] = 8
    timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 60.0

    @property
    def unlimited(self) -> bool:
        """rate = 0 means calls are not paced at all."""
        return self.rate == 0


class SyncSettings(Section):
    # Seconds between drift checks (the controller's objects compared with what akod applied);
    # 0 turns them off. Paced by `[api] rate` like every call.
    drift_check_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 60.0
    # AKO's `enableEvents`: post a Normal `Synced` Event when an object gets its VIP. Warnings about
    # problems are always posted. Live on reload.
    enable_events: bool = True
    # true: read every object back from the controller at each start (as AKO does). false: only when
    # the stored applied state cannot stand for the controller's (see `akod.sync.reconcile`); else
    # the stored state is used and a drift check runs right after the start.
    read_back_at_boot: bool = False
    # Seconds between looks for the CRDs (AKO's, the CNIs') that discovery found not installed: one
    # installed later is watched without a restart. 0: only at start.
    rediscover_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 60.0


class HaSettings(Section):
    """An active/standby pair: a coordination.k8s.io/v1 Lease decides which daemon writes."""

    enabled: bool = False
    lease_name: Annotated[str, Field(pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                                     max_length=253)] = ""  # "" = akod-<cluster name, lower case>
    lease_namespace: NamespaceName = "avi-system"
    identity: str = ""  # "" = <host name>-<pid>
    # AKO's timings (client-go leaderelection): the lease lasts 15 s, a leader that has not renewed
    # for 10 s stops writing, and every 2 s a daemon tries to acquire or renew.
    lease_duration_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 15.0
    renew_deadline_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    retry_period_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 2.0

    @model_validator(mode="after")
    def _timings(self) -> HaSettings:
        if not self.retry_period_s < self.renew_deadline_s < self.lease_duration_s:
            raise problem("needs retry_period_s < renew_deadline_s < lease_duration_s (a leader must stop "
                          f"writing before its lease can expire); got {self.retry_period_s}, "
                          f"{self.renew_deadline_s}, {self.lease_duration_s}", at=("renew_deadline_s",))
        return self

    def lease_for(self, cluster: str) -> str:
        """`lease_name`, else `akod-<cluster>` made a valid object name (lower case, `_` and `.` as `-`)."""
        if self.lease_name:
            return self.lease_name
        return "akod-" + re.sub(r"[^a-z0-9-]+", "-", cluster.lower()).strip("-")


class StateSettings(Section):
    path: RequiredPath = Path("/var/lib/akod/state.db")


class StatusSettings(Section):
    listen: Listen = TcpListen(host="127.0.0.1", port=8181)


class LogSettings(Section):
    level: Annotated[LogLevel, choice_validator(("debug", "info", "warning", "error"))] = "info"
    format: Annotated[LogFormat, choice_validator(("text", "json"))] = "text"


class Settings(Section):
    """The whole file. `[cluster]` and `[controller]` have required keys; the rest has defaults."""

    cluster: ClusterSettings
    controller: ControllerSettings
    network: NetworkSettings = NetworkSettings()
    routes: RoutesSettings = RoutesSettings()
    l4: L4Settings = L4Settings()
    l7: L7Settings = L7Settings()
    namespaces: NamespacesSettings = NamespacesSettings()
    api: ApiSettings = ApiSettings()
    sync: SyncSettings = SyncSettings()
    ha: HaSettings = HaSettings()
    state: StateSettings = StateSettings()
    status: StatusSettings = StatusSettings()
    log: LogSettings = LogSettings()
