"""`akod config import-helm`: AKO values.yaml -> akod TOML that loads back."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from akod.config import (
    ConfigError,
    Settings,
    helm_values_to_toml,
    load_helm_values,
    load_settings,
)
from akod.config.toml_writer import toml_key, toml_value

# The values.yaml of the seed install guide (AKO 1.4.2 chart, Site 1 AZ 1), rebuilt from its
# table of edited values on top of the chart's defaults.
SEED_VALUES_YAML = """\
# Default values for ako.
replicaCount: 1

image:
  repository: projects.registry.vmware.com/ako/ako
  pullPolicy: IfNotPresent

### This section outlines the generic AKO settings
AKOSettings:
  logLevel: "WARN" #enum: INFO|DEBUG|WARN|ERROR
  fullSyncFrequency: "1800" # This frequency controls how often AKO polls the Avi controller
  apiServerPort: 8080 # Specify the port for the API server, default is set as 8080
  deleteConfig: "false" # true deletes AKO created objects from AVI
  disableStaticRouteSync: "false" # true if pod networks are routable
  clusterName: "S1-AZ1" # A unique identifier for the kubernetes cluster // MUST-EDIT
  cniPlugin: "" # enum: calico|canal|flannel|openshift|antrea|ncp
  enableEVH: false # Enhanced Virtual Hosting
  layer7Only: false # If this flag is switched on, then AKO will only do layer 7 loadbalancing.
  namespaceSelector:
    labelKey: ""
    labelValue: ""
  servicesAPI: false # Flag that enables AKO in services API mode

### This section outlines the network settings for virtualservices.
NetworkSettings:
  ## This list of network and cidrs are used in pool placement network for vcenter cloud.
  # nodeNetworkList: []
  enableRHI: false # This is a cluster wide setting for BGP peering.
  bgpPeerLabels: [] # Select BGP peers using bgpPeerLabels, for selective VsVip advertisement.
  vipNetworkList: # Network information of the VIP network.
    - networkName: AVI_FRONTEND_3025
      cidr: 10.10.25.0/24

### This section outlines all the knobs  used to control Layer 7 loadbalancing settings in AKO.
L7Settings:
  defaultIngController: "true"
  noPGForSNI: false
  l7ShardingScheme: "hostname"
  serviceType: ClusterIP #enum NodePort|ClusterIP|NodePortLocal
  shardVSSize: "LARGE" # ENUMs: LARGE, MEDIUM, SMALL, DEDICATED
  passthroughShardSize: "SMALL" # ENUMs: LARGE, MEDIUM, SMALL

### This section outlines all the knobs  used to control Layer 4 loadbalancing settings in AKO.
L4Settings:
  defaultDomain: "avi.iberia.local" # default sub-domain to use for L4 VSes.
  autoFQDN: "default" # ENUM: default, flat, "disabled"

### This section outlines settings on the Avi controller that affects AKO's functionality.
ControllerSettings:
  serviceEngineGroupName: "S1-AZ1-SE-Group" # Name of the ServiceEngine Group.
  controllerVersion: "20.1.2" # The controller API version
  cloudName: "Default-Cloud" # The configured cloud name on the Avi controller.
  controllerHost: "10.10.20.43" # IP address or Hostname of Avi Controller
  tenantsPerCluster: "false" # one tenant per cluster
  tenantName: "admin" # Name of the tenant where all the AKO objects will be created in AVI.

nodePortSelector: # Only applicable if serviceType is NodePort
  key: ""
  value: ""

resources:
  limits:
    cpu: 250m
    memory: 300Mi
  requests:
    cpu: 100m
    memory: 75Mi

podSecurityContext: {}

rbac:
  # Creates the pod security policy if set to true
  pspEnable: false

avicredentials:
  username: "admin"
  password: "password01"
  certificateAuthorityData:

persistentVolumeClaim: ""
mountPath: "/log"
logFile: "avi.log"
"""


@pytest.fixture
def seed_values(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "values.yaml"
    path.write_text(SEED_VALUES_YAML, encoding="utf-8")
    return load_helm_values(path)


def round_trip(tmp_path: Path, values: dict[str, Any]) -> Settings:
    path = tmp_path / "akod.toml"
    path.write_text(helm_values_to_toml(values), encoding="utf-8")
    return load_settings(path)


def test_seed_values_import_loads_as_the_seed_scenario(
    tmp_path: Path, seed_values: dict[str, Any]
) -> None:
    settings = round_trip(tmp_path, seed_values)

    assert settings.cluster.name == "S1-AZ1"
    assert settings.controller.base_url == "https://10.10.20.43"
    assert settings.controller.version == "20.1.2"
    assert settings.controller.username == "admin"
    assert settings.controller.tenant == "admin"
    assert settings.controller.cloud == "Default-Cloud"
    assert settings.controller.se_group == "S1-AZ1-SE-Group"
    assert settings.controller.password_file == Path("/etc/akod/password")
    assert [(n.name, str(n.cidr)) for n in settings.network.vip_networks] == [
        ("AVI_FRONTEND_3025", "10.10.25.0/24")
    ]
    assert settings.network.default_domain == "avi.iberia.local"
    assert settings.routes.disable_static_route_sync is False
    assert settings.l4.auto_fqdn == "default"
    assert settings.l7.service_type == "ClusterIP"
    assert settings.l7.shard_vs_size == "LARGE"
    assert settings.l7.default_ing_controller is True
    assert settings.log.level == "warning"


def test_password_is_never_copied_and_the_user_is_told_where_to_put_it(
    seed_values: dict[str, Any],
) -> None:
    text = helm_values_to_toml(seed_values)
    assert "password01" not in text
    assert "avicredentials.password is never copied" in text
    assert 'password_file = "/etc/akod/password"' in text


def test_every_imported_key_has_a_comment_naming_its_source(seed_values: dict[str, Any]) -> None:
    lines = helm_values_to_toml(seed_values).splitlines()
    key_lines = [i for i, line in enumerate(lines) if line and not line.startswith(("#", "["))]
    assert key_lines
    for i in key_lines:
        assert lines[i - 1].startswith("# "), f"no source comment above {lines[i]!r}"
    assert "# from AKOSettings.clusterName" in lines
    assert "# from ControllerSettings.controllerHost" in lines
    assert "# from NetworkSettings.vipNetworkList" in lines


def test_ako_keys_without_an_akod_equivalent_are_listed(seed_values: dict[str, Any]) -> None:
    text = helm_values_to_toml(seed_values)
    header = text.split("\n[cluster]")[0]
    assert "AKO keys with no akod equivalent" in header
    for key in (
        "fullSyncFrequency",
        "enableEVH",
        "passthroughShardSize",
        "tenantsPerCluster",
        "pspEnable",
        "enableRHI",
    ):
        assert key in header
    for imported in ("clusterName", "controllerHost", "vipNetworkList", "shardVSSize"):
        assert imported not in header


def test_output_is_valid_toml(seed_values: dict[str, Any]) -> None:
    document = tomllib.loads(helm_values_to_toml(seed_values))
    assert document["cluster"] == {"name": "S1-AZ1"}


def test_there_is_no_ako_pod_network_to_import_and_the_header_says_what_akod_does_without(
        tmp_path: Path, seed_values: dict[str, Any]) -> None:
    text = helm_values_to_toml(seed_values)
    assert "[routes] pod_network names the cluster's pod network" in text
    assert round_trip(tmp_path, seed_values).routes.pod_network == ()
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["AKOSettings"]["disableStaticRouteSync"] = True
    assert "pod_network" not in helm_values_to_toml(values)  # no routes, nothing to say


def test_boolean_strings_become_booleans(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["AKOSettings"]["disableStaticRouteSync"] = "True"
    values["L7Settings"]["defaultIngController"] = "false"
    values["L4Settings"]["defaultLBController"] = False
    settings = round_trip(tmp_path, values)
    assert settings.routes.disable_static_route_sync is True
    assert settings.l7.default_ing_controller is False
    assert settings.l4.default_lb_controller is False


@pytest.mark.parametrize(("ako", "akod"), [("false", False), ("true", True), (False, False)])
def test_enable_events_is_imported(tmp_path: Path, ako: Any, akod: bool) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["AKOSettings"]["enableEvents"] = ako
    assert round_trip(tmp_path, values).sync.enable_events is akod


@pytest.mark.parametrize(
    ("ako", "akod"), [("WARN", "warning"), ("INFO", "info"), ("DEBUG", "debug"), ("ERROR", "error")]
)
def test_ako_log_levels_are_translated(tmp_path: Path, ako: str, akod: str) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["AKOSettings"]["logLevel"] = ako
    assert round_trip(tmp_path, values).log.level == akod


def test_network_default_domain_wins_over_the_l4_one(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["NetworkSettings"]["defaultDomain"] = "apps.iberia.local"
    assert round_trip(tmp_path, values).network.default_domain == "apps.iberia.local"


def test_selectors_blocked_namespaces_and_node_networks_are_imported(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["AKOSettings"]["namespaceSelector"] = {"labelKey": "ako", "labelValue": "enabled"}
    values["AKOSettings"]["blockedNamespaceList"] = ["kube-system", "kube-public"]
    values["NetworkSettings"]["nodeNetworkList"] = [
        {"networkName": "K8S_NODES_3024", "cidrs": ["10.10.24.0/24"]}
    ]
    values["L7Settings"]["serviceType"] = "NodePort"
    values["nodePortSelector"] = {"key": "node-role", "value": "edge"}
    values["ControllerSettings"]["vrfName"] = "VRF_AZ1"

    settings = round_trip(tmp_path, values)

    assert (settings.namespaces.selector.key, settings.namespaces.selector.value) == (
        "ako",
        "enabled",
    )
    assert settings.namespaces.blocked == ("kube-system", "kube-public")
    assert settings.network.node_networks[0].name == "K8S_NODES_3024"
    assert [str(c) for c in settings.network.node_networks[0].cidrs] == ["10.10.24.0/24"]
    assert settings.l7.service_type == "NodePort"
    assert (settings.l7.node_port_selector.key, settings.l7.node_port_selector.value) == (
        "node-role",
        "edge",
    )
    assert settings.controller.vrf == "VRF_AZ1"


def test_pre_1_4_vip_network_and_controller_ip_keys_are_imported(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    del values["NetworkSettings"]["vipNetworkList"]
    del values["ControllerSettings"]["controllerHost"]
    values["NetworkSettings"].update(
        {"networkName": "AVI_FRONTEND_3025", "subnetIP": "10.10.25.0", "subnetPrefix": 24}
    )
    values["ControllerSettings"]["controllerIP"] = "10.10.20.43"

    settings = round_trip(tmp_path, values)

    assert settings.controller.host == "10.10.20.43"
    assert str(settings.network.vip_networks[0].cidr) == "10.10.25.0/24"
    assert settings.network.vip_networks[0].name == "AVI_FRONTEND_3025"


def test_empty_se_group_becomes_akos_default(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["ControllerSettings"]["serviceEngineGroupName"] = ""
    assert round_trip(tmp_path, values).controller.se_group == "Default-Group"


def test_value_akod_does_not_support_is_reported_against_the_akod_key(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["L7Settings"]["serviceType"] = "LoadBalancer"
    with pytest.raises(ConfigError) as caught:
        round_trip(tmp_path, values)
    assert caught.value.messages[0].startswith(
        "[l7] service_type: 'LoadBalancer' is not one of ClusterIP, NodePort, NodePortLocal")


def test_node_port_local_auto_annotation_and_ip_family_are_imported(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["L7Settings"]["serviceType"] = "NodePortLocal"
    values["AKOSettings"]["autoAnnotateService"] = "false"
    values["AKOSettings"]["ipFamily"] = "V4_V6"
    settings = round_trip(tmp_path, values)
    assert settings.l7.service_type == "NodePortLocal"
    assert settings.l7.npl_auto_annotate is False
    assert settings.network.ip_family == "V4_V6"
    assert settings.network.ip_versions == frozenset({4, 6})


def test_empty_ip_family_is_akos_v4(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["AKOSettings"]["ipFamily"] = ""
    settings = round_trip(tmp_path, values)
    assert settings.network.ip_family == "V4"
    assert settings.l7.npl_auto_annotate is True


def test_missing_cluster_name_is_flagged_for_editing(tmp_path: Path) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    del values["AKOSettings"]["clusterName"]
    text = helm_values_to_toml(values)
    assert "MUST EDIT" in text
    with pytest.raises(ConfigError) as caught:
        round_trip(tmp_path, values)
    assert caught.value.messages[0].startswith("[cluster] name: must not be empty")


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("AKOSettings:\n  clusterName: [S1-AZ1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_helm_values(path)
    assert str(caught.value).startswith(f"{path}: YAML syntax error at line 3, column 1")


def test_values_that_are_not_a_mapping_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_helm_values(path)
    assert caught.value.messages == ["expected a mapping of Helm values at the top level"]


def test_missing_values_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_helm_values(tmp_path / "values.yaml")
    assert str(caught.value) == f"{tmp_path / 'values.yaml'}: no such file"


@pytest.mark.parametrize(
    "value",
    [
        'say "hi"',
        "back\\slash",
        "line\nbreak\ttab",
        "ünïcødé ✓",
        "control\x01char\x7f",
        "",
        1.0,
        20.5,
        -3,
        True,
        [1, "two", [3.0]],
        {"key": "", "value": "x"},
        {"needs quotes": 1, "bare_key-1": 2},
    ],
)
def test_toml_writer_values_read_back_unchanged(value: Any) -> None:
    document = tomllib.loads(f"v = {toml_value(value)}\n")
    assert document["v"] == value
    assert type(document["v"]) is type(value)


def test_toml_writer_keeps_special_floats() -> None:
    assert math.isinf(tomllib.loads(f"v = {toml_value(float('inf'))}")["v"])
    assert math.isnan(tomllib.loads(f"v = {toml_value(float('nan'))}")["v"])


def test_toml_writer_quotes_keys_only_when_needed() -> None:
    assert toml_key("shard_vs_size") == "shard_vs_size"
    assert toml_key("a.b") == '"a.b"'


def test_two_ako_replicas_become_an_ha_pair_and_one_stays_single(tmp_path: Path, seed_values: dict[str, Any]) -> None:
    assert round_trip(tmp_path, seed_values).ha.enabled is False  # the seed runs replicaCount: 1
    assert round_trip(tmp_path, {**seed_values, "replicaCount": 2}).ha.enabled is True


@pytest.mark.parametrize(("ako", "akod"), [("", "none"), ("calico", "calico"), ("antrea", "antrea"),
                                            ("cilium", "cilium"), ("ovn-kubernetes", "ovn-kubernetes"),
                                            ("openshift", "openshift"), ("canal", "none"), ("flannel", "none")])
def test_cni_plugin_becomes_routes_cni(tmp_path: Path, ako: str, akod: str) -> None:
    values = yaml.safe_load(SEED_VALUES_YAML)
    values["AKOSettings"]["cniPlugin"] = ako
    text = helm_values_to_toml(values)
    assert "# from AKOSettings.cniPlugin" in text
    assert round_trip(tmp_path, values).routes.cni == akod


def test_ncp_and_unknown_cni_plugins_leave_cni_at_auto_and_say_why(tmp_path: Path) -> None:
    for ako, words in (("ncp", "disable_static_route_sync"), ("weave", "not a CNI akod knows")):
        values = yaml.safe_load(SEED_VALUES_YAML)
        values["AKOSettings"]["cniPlugin"] = ako
        text = helm_values_to_toml(values)
        assert words in text.split("\n[cluster]")[0]
        assert round_trip(tmp_path, values).routes.cni == "auto"
