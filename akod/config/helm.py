"""`akod config import-helm`: an AKO Helm values.yaml rewritten as akod TOML.

People come to akod with a values.yaml that already describes their cluster. The keys map one to
one where AKO has them (CONTRACT.md), so the import is a table of (AKO key -> akod key) plus the
few conversions values.yaml needs: booleans written as strings ("true"), AKO's upper-case log
levels, the pre-1.4 single VIP network (`subnetIP`/`subnetPrefix`/`networkName`) and the old
`controllerIP` key. Each emitted key carries a comment naming its source, and every AKO key that
was not imported is listed in a header comment, so nothing is dropped silently.

The password is never copied: the output tells the user to put it in a password file. Values
that do not fit akod (e.g. `serviceType: NodePortLocal`) are passed through unchanged, so that
`load_settings` reports them against the akod key.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from akod.config.errors import ConfigError
from akod.config.secrets import CREDENTIAL_NAME, PASSWORD_ENV
from akod.config.toml_writer import toml_key, toml_value

DEFAULT_PASSWORD_FILE = "/etc/akod/password"
_LOG_LEVELS = {
    "DEBUG": "debug",
    "INFO": "info",
    "WARN": "warning",
    "WARNING": "warning",
    "ERROR": "error",
}
_SECTION_ORDER = ("cluster", "controller", "network", "routes", "l4", "l7", "namespaces", "sync", "ha", "log")
_SECRET_KEYS = ("avicredentials.password", "avicredentials.authtoken")


def load_helm_values(path: Path) -> dict[str, Any]:
    """The parsed values.yaml at `path` (YAML safe_load). Raises ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["no such file"], source=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"cannot read: {error}"], source=path) from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError([f"YAML syntax error{where}: {reason}"], source=path) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(["expected a mapping of Helm values at the top level"], source=path)
    return values


@dataclass
class _Entry:
    key: str
    value: Any
    comment: str


@dataclass
class _Import:
    """The values being read, the keys used so far, and the TOML being built."""

    values: Mapping[str, Any]
    used: set[str] = field(default_factory=set)
    sections: dict[str, list[_Entry]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, dotted: str) -> Any:
        """The value at a dotted AKO key, None when absent or null; marks the key as used."""
        self.used.add(dotted)
        return _lookup(self.values, dotted)

    def emit(self, section: str, key: str, value: Any, comment: str) -> None:
        self.sections.setdefault(section, []).append(_Entry(key, value, comment))

    def copy(self, source: str, section: str, key: str, convert: Any = None) -> None:
        """Emit `[section] key` from the AKO key `source` when values.yaml sets it."""
        value = self.get(source)
        if value is not None:
            self.emit(section, key, convert(value) if convert else value, f"from {source}")

    def unused(self) -> list[str]:
        leaves = _leaf_keys(self.values)
        return [
            leaf
            for leaf in leaves
            if leaf not in _SECRET_KEYS and not any(_covers(used, leaf) for used in self.used)
        ]


def helm_values_to_toml(values: Mapping[str, Any]) -> str:
    """The akod TOML equivalent of AKO Helm `values` (as from `load_helm_values`)."""
    state = _Import(values=values)
    _cluster(state)
    _controller(state)
    _network(state)
    _routes_l4_l7(state)
    _namespaces_and_log(state)
    _ha(state)
    return _render(state)


# --- the mapping, section by section ----------------------------------------------------------


def _cluster(state: _Import) -> None:
    name = state.get("AKOSettings.clusterName")
    if name is None or name == "":
        state.emit(
            "cluster",
            "name",
            "",
            "AKOSettings.clusterName is not set (AKO's chart default is 'my-cluster'): MUST EDIT",
        )
    else:
        state.emit("cluster", "name", _text(name), "from AKOSettings.clusterName")


def _controller(state: _Import) -> None:
    host = state.get("ControllerSettings.controllerHost")
    source = "ControllerSettings.controllerHost"
    legacy = state.get("ControllerSettings.controllerIP")
    if (host is None or host == "") and legacy is not None:
        host, source = legacy, "ControllerSettings.controllerIP"
    if host is None or host == "":
        state.emit("controller", "host", "", f"{source} is not set: MUST EDIT")
    else:
        state.emit("controller", "host", _text(host), f"from {source}")
    state.copy("ControllerSettings.controllerVersion", "controller", "version", _text)
    username = state.get("avicredentials.username")
    if username:
        state.emit("controller", "username", _text(username), "from avicredentials.username")
    state.emit(
        "controller",
        "password_file",
        DEFAULT_PASSWORD_FILE,
        "avicredentials.password is never copied: write it to this file and chmod 600 it",
    )
    if state.get("avicredentials.certificateAuthorityData"):
        state.notes.append(
            "avicredentials.certificateAuthorityData is not copied: save it to a PEM file and "
            "set [controller] ca_file to it."
        )
    if state.get("avicredentials.authtoken"):
        state.notes.append(
            "avicredentials.authtoken is not supported: akod logs in with username and password."
        )
    # An empty tenant or cloud means AKO's default there, which is akod's default too.
    for source, key in (
        ("ControllerSettings.tenantName", "tenant"),
        ("ControllerSettings.cloudName", "cloud"),
    ):
        value = state.get(source)
        if value is not None and value != "":
            state.emit("controller", key, _text(value), f"from {source}")
    # akod requires the SE group (one per cluster); an import keeps AKO's fallback explicit.
    se_group = state.get("ControllerSettings.serviceEngineGroupName")
    if se_group is None or se_group == "":
        state.emit(
            "controller",
            "se_group",
            "Default-Group",
            "AKO's default (ControllerSettings.serviceEngineGroupName is not set)",
        )
    else:
        state.emit(
            "controller",
            "se_group",
            _text(se_group),
            "from ControllerSettings.serviceEngineGroupName",
        )
    state.copy("ControllerSettings.vrfName", "controller", "vrf", _text)


def _network(state: _Import) -> None:
    vips = state.get("NetworkSettings.vipNetworkList")
    legacy_name = state.get("NetworkSettings.networkName")
    legacy_ip = state.get("NetworkSettings.subnetIP")
    legacy_prefix = state.get("NetworkSettings.subnetPrefix")
    if vips:
        state.emit(
            "network",
            "vip_networks",
            [_vip_network(state, entry) for entry in _as_list(vips)],
            "from NetworkSettings.vipNetworkList",
        )
    elif legacy_name:
        state.emit(
            "network",
            "vip_networks",
            [{"name": _text(legacy_name), "cidr": f"{_text(legacy_ip)}/{_text(legacy_prefix)}"}],
            "from NetworkSettings.networkName, subnetIP and subnetPrefix (AKO before 1.4)",
        )
    elif vips is not None:
        state.emit("network", "vip_networks", [], "from NetworkSettings.vipNetworkList")

    nodes = state.get("NetworkSettings.nodeNetworkList")
    if nodes is not None:
        state.emit(
            "network",
            "node_networks",
            [_node_network(state, entry) for entry in _as_list(nodes)],
            "from NetworkSettings.nodeNetworkList",
        )

    domain = state.get("NetworkSettings.defaultDomain")
    l4_domain = state.get("L4Settings.defaultDomain")
    if domain:
        state.emit("network", "default_domain", _text(domain), "from NetworkSettings.defaultDomain")
    elif l4_domain is not None:
        state.emit(
            "network",
            "default_domain",
            _text(l4_domain),
            "from L4Settings.defaultDomain (NetworkSettings.defaultDomain is not set)",
        )
    elif domain is not None:
        state.emit("network", "default_domain", _text(domain), "from NetworkSettings.defaultDomain")

    family = state.get("AKOSettings.ipFamily")
    if family is not None and _text(family) != "":  # AKO's "" means V4, akod's default
        state.emit("network", "ip_family", _text(family), "from AKOSettings.ipFamily")


def _vip_network(state: _Import, entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    converted: dict[str, Any] = {}
    for ako, akod in (("networkName", "name"), ("cidr", "cidr"), ("v6cidr", "v6cidr")):
        if entry.get(ako) is not None:
            converted[akod] = _text(entry[ako])
    if "networkUUID" in entry:
        state.notes.append(
            "NetworkSettings.vipNetworkList[].networkUUID is not supported: use networkName."
        )
    return converted


def _node_network(state: _Import, entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    converted: dict[str, Any] = {}
    if entry.get("networkName") is not None:
        converted["name"] = _text(entry["networkName"])
    cidrs = entry.get("cidrs")
    converted["cidrs"] = [_text(cidr) for cidr in _as_list(cidrs)] if cidrs is not None else []
    if "networkUUID" in entry:
        state.notes.append(
            "NetworkSettings.nodeNetworkList[].networkUUID is not supported: use networkName."
        )
    return converted


def _routes_l4_l7(state: _Import) -> None:
    state.copy("AKOSettings.disableStaticRouteSync", "routes", "disable_static_route_sync", _bool)
    _cni(state)
    state.copy("L4Settings.defaultLBController", "l4", "default_lb_controller", _bool)
    state.copy("L4Settings.autoFQDN", "l4", "auto_fqdn", _text)
    state.copy("L7Settings.serviceType", "l7", "service_type", _text)
    # AKO reads AUTO_ANNOTATE_SERVICE from its environment (not a chart value); accept it as a value too.
    state.copy("AKOSettings.autoAnnotateService", "l7", "npl_auto_annotate", _bool)
    state.copy("L7Settings.shardVSSize", "l7", "shard_vs_size", _text)
    state.copy("L7Settings.defaultIngController", "l7", "default_ing_controller", _bool)
    selector = _selector(state, "nodePortSelector.key", "nodePortSelector.value")
    if selector is not None:
        state.emit("l7", "node_port_selector", selector, "from nodePortSelector.key and .value")
    if _bool(_lookup(state.values, "AKOSettings.disableStaticRouteSync")) is not True:
        state.notes.append(
            "AKO has no pod network setting; akod refuses a node's pod CIDR shorter than /16 (IPv4) or /48 "
            "(IPv6) unless [routes] pod_network names the cluster's pod network(s)."
        )
    if _bool(_lookup(state.values, "AKOSettings.layer7Only")) is True:
        state.notes.append(
            "AKOSettings.layer7Only is true: akod has no such switch; set [l4] "
            "default_lb_controller = false to leave LoadBalancer Services without a class alone."
        )


# AKO's cniPlugin -> akod's [routes] cni, and what the user is told when it is not one to one.
_CNI = {"": "none", "antrea": "antrea", "calico": "calico", "cilium": "cilium", "ovn-kubernetes": "ovn-kubernetes",
        "openshift": "openshift", "canal": "none", "flannel": "none"}
_CNI_NOTES = {
    "": "AKOSettings.cniPlugin is empty: [routes] cni = \"none\" reads spec.podCIDRs as AKO did; \"auto\" "
        "would find Calico, Cilium, OpenShift SDN, OVN-Kubernetes or Antrea by itself.",
    "canal": "AKOSettings.cniPlugin canal: its pods use spec.podCIDRs (flannel), so [routes] cni = \"none\".",
    "flannel": "AKOSettings.cniPlugin flannel: its pods use spec.podCIDRs, so [routes] cni = \"none\".",
    "ncp": "AKOSettings.cniPlugin ncp: NSX-T routes the pods itself; set [routes] disable_static_route_sync = "
           "true (not imported).",
}


def _cni(state: _Import) -> None:
    value = state.get("AKOSettings.cniPlugin")
    if value is None:
        return
    text = str(value).strip().lower()
    cni = _CNI.get(text)
    if cni is not None:
        state.emit("routes", "cni", cni, "from AKOSettings.cniPlugin" + (f" ({value!r})" if cni != text else ""))
    elif text not in _CNI_NOTES:
        state.notes.append(f"AKOSettings.cniPlugin {value!r} is not a CNI akod knows; [routes] cni is left at "
                           "\"auto\" (API discovery and node annotations).")
    if text in _CNI_NOTES:
        state.notes.append(_CNI_NOTES[text])


def _ha(state: _Import) -> None:
    """AKO runs active/standby when its StatefulSet has two replicas: akod, two daemons with a Lease."""
    replicas = state.get("replicaCount")
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > 1:
        state.emit("ha", "enabled", True, f"from replicaCount ({replicas}): run akod on two jump hosts")


def _namespaces_and_log(state: _Import) -> None:
    selector = _selector(
        state, "AKOSettings.namespaceSelector.labelKey", "AKOSettings.namespaceSelector.labelValue"
    )
    if selector is not None:
        state.emit(
            "namespaces",
            "selector",
            selector,
            "from AKOSettings.namespaceSelector.labelKey and .labelValue",
        )
    blocked = state.get("AKOSettings.blockedNamespaceList")
    if blocked is not None:
        state.emit(
            "namespaces",
            "blocked",
            [_text(name) for name in _as_list(blocked)],
            "from AKOSettings.blockedNamespaceList",
        )
    state.copy("AKOSettings.enableEvents", "sync", "enable_events", _bool)
    level = state.get("AKOSettings.logLevel")
    if level is not None:
        text = _text(level)
        converted = _LOG_LEVELS.get(text.upper(), text.lower()) if isinstance(text, str) else text
        state.emit("log", "level", converted, f"from AKOSettings.logLevel ({text})")


def _selector(state: _Import, key_source: str, value_source: str) -> dict[str, Any] | None:
    key, value = state.get(key_source), state.get(value_source)
    if key is None and value is None:
        return None
    return {"key": _text(key or ""), "value": _text(value or "")}


# --- conversions ------------------------------------------------------------------------------


def _bool(value: Any) -> Any:
    """values.yaml writes booleans as strings ("true"); anything else is left for the loader to
    reject against the akod key."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _text(value: Any) -> Any:
    """YAML reads `20.1` or `24` as numbers; the akod keys want the text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _leaf_keys(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    leaves = []
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            leaves.extend(_leaf_keys(value, prefix=f"{dotted}."))
        else:
            leaves.append(dotted)
    return leaves


def _covers(used: str, leaf: str) -> bool:
    return leaf == used or leaf.startswith(f"{used}.")


# --- output -----------------------------------------------------------------------------------


def _render(state: _Import) -> str:
    lines = [
        "# akod configuration imported from an AKO Helm values.yaml (akod config import-helm).",
        "# Each key names its AKO source. Review it, then run: akod check --config <this file>",
        "#",
        "# The controller password is never copied. Write avicredentials.password to",
        f"# {DEFAULT_PASSWORD_FILE} (chmod 600), or set env {PASSWORD_ENV}, or pass the systemd",
        f"# credential {CREDENTIAL_NAME!r} (LoadCredential=).",
    ]
    for note in state.notes:
        lines.append("#")
        lines.extend(textwrap.wrap(note, width=98, initial_indent="# ", subsequent_indent="# "))
    unused = state.unused()
    if unused:
        lines += ["#", "# AKO keys with no akod equivalent (not imported):"]
        groups: dict[str, list[str]] = {}
        for key in unused:
            head, _, rest = key.partition(".")
            groups.setdefault(head, []).append(rest)
        for head, rests in groups.items():
            text = f"{head}: {', '.join(r for r in rests if r)}" if any(rests) else head
            lines.extend(
                textwrap.wrap(text, width=96, initial_indent="#   ", subsequent_indent="#       ")
            )
    for section in _SECTION_ORDER:
        entries = state.sections.get(section)
        if not entries:
            continue
        lines += ["", f"[{section}]"]
        for entry in entries:
            try:
                rendered = toml_value(entry.value)
            except TypeError as error:
                raise ConfigError([f"{entry.comment.removeprefix('from ')}: {error}"]) from None
            lines.append(f"# {entry.comment}")
            lines.append(f"{toml_key(entry.key)} = {rendered}")
    lines += [
        "",
        "# [api], [state], [status] and [log] format are akod's own: see config.example.toml.",
    ]
    return "\n".join(lines) + "\n"
