"""Loading akod's TOML: the example loads, and every broken file names the key that is wrong."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from akod.config import (
    ConfigError,
    Settings,
    TcpListen,
    UnixListen,
    describe,
    load_settings,
    parse_settings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"

MINIMAL = """
[cluster]
name = "S1-AZ1"

[controller]
host = "10.10.20.43"
se_group = "S1-AZ1-SE-Group"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "akod.toml"
    path.write_text(text, encoding="utf-8")
    return path


def example_with(old: str, new: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur exactly once in config.example.toml"
    return text.replace(old, new)


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    messages: list[str] = caught.value.messages
    return messages


def test_example_config_loads_with_the_seed_scenario() -> None:
    settings = load_settings(EXAMPLE)

    assert settings.cluster.name == "S1-AZ1"
    assert settings.controller.base_url == "https://10.10.20.43"
    assert settings.controller.version == "20.1.2"
    assert settings.controller.se_group == "S1-AZ1-SE-Group"
    assert settings.controller.password_file == Path("/etc/akod/password")
    assert settings.network.vip_networks[0].name == "AVI_FRONTEND_3025"
    assert settings.network.vip_networks[0].cidr == ipaddress.IPv4Network("10.10.25.0/24")
    assert settings.network.default_domain == "avi.iberia.local"
    assert settings.state.path == Path("/var/lib/akod/state.db")
    assert settings.status.listen == TcpListen(host="127.0.0.1", port=8181)


def test_example_config_sets_every_key_the_models_know() -> None:
    import tomllib

    document = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    for section, field in Settings.model_fields.items():
        assert section in document, f"[{section}] is missing from config.example.toml"
        model = field.annotation
        assert model is not None
        for key in model.model_fields:
            assert key in document[section], f"[{section}] {key} is not documented"


def test_minimal_config_takes_the_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL))

    assert settings.controller.version == ""
    assert settings.controller.username == "admin"
    assert settings.controller.tenant == "admin"
    assert settings.controller.cloud == "Default-Cloud"
    assert settings.controller.password_file is None
    assert settings.network.vip_networks == ()
    assert settings.l4.auto_fqdn == "default"
    assert settings.l7.service_type == "ClusterIP"
    assert settings.l7.shard_vs_size == "LARGE"
    assert settings.l7.shard_count == 8
    assert settings.l7.node_port_selector.is_set is False
    assert (settings.api.rate, settings.api.burst, settings.api.workers) == (20.0, 40, 8)
    assert settings.api.timeout_s == 60.0
    assert settings.log.level == "info"
    assert settings.log.format == "text"
    assert settings.routes.pod_network == ()


def test_pod_network_takes_ipv4_and_ipv6_cidrs(tmp_path: Path) -> None:
    text = example_with("pod_network = []", 'pod_network = ["10.244.0.0/16", "fd00:10:244::/56"]')
    settings = load_settings(write(tmp_path, text))
    assert settings.routes.pod_network == (ipaddress.ip_network("10.244.0.0/16"),
                                           ipaddress.ip_network("fd00:10:244::/56"))


@pytest.mark.parametrize(
    ("size", "count"), [("LARGE", 8), ("MEDIUM", 4), ("SMALL", 1), ("DEDICATED", 0)]
)
def test_shard_vs_size_gives_akos_shard_count(tmp_path: Path, size: str, count: int) -> None:
    settings = load_settings(write(tmp_path, MINIMAL + f'[l7]\nshard_vs_size = "{size}"\n'))
    assert settings.l7.shard_count == count


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("10.10.20.43", "https://10.10.20.43"),
        ("10.10.20.43:8443", "https://10.10.20.43:8443"),
        ("https://Avi.Example.com/", "https://avi.example.com"),
        ("https://avi.example.com:443", "https://avi.example.com"),
        ("http://127.0.0.1:9443", "http://127.0.0.1:9443"),
        ("fd00::43", "https://[fd00::43]"),
        ("[fd00::43]:8443", "https://[fd00::43]:8443"),
    ],
)
def test_controller_host_is_normalised_to_a_base_url(
    tmp_path: Path, host: str, base_url: str
) -> None:
    text = MINIMAL.replace('host = "10.10.20.43"', f'host = "{host}"')
    assert load_settings(write(tmp_path, text)).controller.base_url == base_url


def test_status_listen_accepts_a_unix_socket(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, MINIMAL + '[status]\nlisten = "unix:/run/akod/status.sock"\n')
    )
    assert settings.status.listen == UnixListen(path=Path("/run/akod/status.sock"))


def test_status_listen_on_the_any_address_is_reached_through_loopback(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL + '[status]\nlisten = "0.0.0.0:9000"\n'))
    assert isinstance(settings.status.listen, TcpListen)
    assert settings.status.listen.url == "http://127.0.0.1:9000"


def test_relative_paths_are_taken_from_the_config_files_directory(tmp_path: Path) -> None:
    text = MINIMAL.replace("[controller]\n", '[controller]\npassword_file = "secret/password"\n')
    settings = load_settings(write(tmp_path, text + '[state]\npath = "state.db"\n'))
    assert settings.controller.password_file == tmp_path / "secret" / "password"
    assert settings.state.path == tmp_path / "state.db"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL))
    with pytest.raises(ValueError):
        settings.api.rate = 1.0


# Each case: a change to config.example.toml, and the exact message it must produce.
BROKEN = [
    pytest.param(
        'cidr = "10.10.25.0/24"',
        'cidr = "10.10.25.0/33"',
        "[network] vip_networks[0].cidr: '10.10.25.0/33' is not a valid CIDR",
        id="cidr-mask-33",
    ),
    pytest.param(
        'cidr = "10.10.25.0/24"',
        'cidr = "10.10.25.300/24"',
        "[network] vip_networks[0].cidr: '10.10.25.300/24' is not a valid CIDR",
        id="cidr-bad-address",
    ),
    pytest.param(
        'cidr = "10.10.25.0/24"',
        'cidr = "10.10.25.1/24"',
        "[network] vip_networks[0].cidr: '10.10.25.1/24' has host bits set "
        "(did you mean '10.10.25.0/24'?)",
        id="cidr-host-bits",
    ),
    pytest.param(
        'shard_vs_size = "LARGE"',
        'shard_size = "LARGE"',
        "[l7] shard_size: unknown key (did you mean 'shard_vs_size'?)",
        id="unknown-key-with-suggestion",
    ),
    pytest.param(
        "[log]",
        "[logs]",
        "[logs]: unknown section (did you mean 'log'?)",
        id="unknown-section",
    ),
    pytest.param(
        'name = "S1-AZ1"',
        "",
        "[cluster] name: required key is missing",
        id="missing-cluster-name",
    ),
    pytest.param(
        'name = "S1-AZ1"',
        'name = "S1 AZ1"',
        "[cluster] name: 'S1 AZ1' may contain only letters, digits, '-', '_' and '.'",
        id="cluster-name-with-space",
    ),
    pytest.param(
        'name = "S1-AZ1"',
        f'name = "{"x" * 33}"',
        f"[cluster] name: '{'x' * 33}' is 33 characters long; at most 32 allowed",
        id="cluster-name-too-long",
    ),
    pytest.param(
        'shard_vs_size = "LARGE"',
        'shard_vs_size = "HUGE"',
        "[l7] shard_vs_size: 'HUGE' is not one of LARGE, MEDIUM, SMALL, DEDICATED",
        id="bad-enum-shard-vs-size",
    ),
    pytest.param(
        'auto_fqdn = "default"',
        'auto_fqdn = "Flat"',
        "[l4] auto_fqdn: 'Flat' is not one of default, flat, disabled (did you mean 'flat'?)",
        id="enum-wrong-case-suggests",
    ),
    pytest.param(
        "rate = 20.0",
        "rate = -1",
        "[api] rate: must be >= 0, got -1",
        id="negative-rate",
    ),
    pytest.param(
        "rate = 20.0",
        'rate = "fast"',
        "[api] rate: expected a number, got 'fast'",
        id="wrong-type-rate",
    ),
    pytest.param(
        "burst = 40",
        "burst = 0",
        "[api] burst: must be >= 1, got 0",
        id="burst-zero",
    ),
    pytest.param(
        "workers = 8",
        "workers = 0",
        "[api] workers: must be >= 1, got 0",
        id="workers-zero",
    ),
    pytest.param(
        "workers = 8",
        "workers = 65",
        "[api] workers: must be <= 64, got 65",
        id="workers-too-many",
    ),
    pytest.param(
        "timeout_s = 60",
        "timeout_s = 0",
        "[api] timeout_s: must be > 0, got 0",
        id="timeout-zero",
    ),
    pytest.param(
        "insecure = false",
        'insecure = "no"',
        "[controller] insecure: expected true or false, got 'no'",
        id="wrong-type-bool",
    ),
    pytest.param(
        'listen = "127.0.0.1:8181"',
        'listen = "10.10.20.5:8181"',
        "[status] listen: 10.10.20.5 in '10.10.20.5:8181' is neither a loopback nor the any "
        "address (use 127.0.0.1, ::1, 0.0.0.0 or ::)",
        id="listen-not-loopback",
    ),
    pytest.param(
        'listen = "127.0.0.1:8181"',
        'listen = "localhost"',
        "[status] listen: 'localhost' is not a listen address: use host:port such as "
        "'127.0.0.1:8181', or 'unix:/run/akod/status.sock'",
        id="listen-without-port",
    ),
    pytest.param(
        'listen = "127.0.0.1:8181"',
        'listen = "127.0.0.1:70000"',
        "[status] listen: port 70000 in '127.0.0.1:70000' is not in 1..65535",
        id="listen-bad-port",
    ),
    pytest.param(
        'listen = "127.0.0.1:8181"',
        'listen = "unix:run/akod.sock"',
        "[status] listen: 'unix:run/akod.sock' needs an absolute socket path, "
        "e.g. 'unix:/run/akod/status.sock'",
        id="listen-relative-socket",
    ),
    pytest.param(
        'node_port_selector = { key = "", value = "" }',
        'node_port_selector = { key = "node-role", value = "" }',
        "[l7] node_port_selector.value: is empty while key = 'node-role' is set; "
        "set both or neither",
        id="selector-key-without-value",
    ),
    pytest.param(
        '\nselector = { key = "", value = "" }',
        '\nselector = { key = "", value = "yes" }',
        "[namespaces] selector.key: is empty while value = 'yes' is set; set both or neither",
        id="selector-value-without-key",
    ),
    pytest.param(
        'version = "20.1.2"',
        'version = "20.1.x"',
        "[controller] version: '20.1.x' is not a controller version: use dotted digits such as "
        "'20.1.2', or \"\" to ask the controller",
        id="bad-version",
    ),
    pytest.param(
        'default_domain = "avi.iberia.local"',
        'default_domain = "avi_iberia..local"',
        "[network] default_domain: 'avi_iberia..local' is not a DNS name "
        "(dot-separated labels of letters, digits and '-')",
        id="bad-default-domain",
    ),
    pytest.param(
        'host = "10.10.20.43"',
        'host = "ftp://10.10.20.43"',
        "[controller] host: 'ftp://10.10.20.43' uses scheme 'ftp'; use https:// or http://",
        id="controller-host-bad-scheme",
    ),
    pytest.param(
        'host = "10.10.20.43"',
        'host = "https://10.10.20.43/api"',
        "[controller] host: 'https://10.10.20.43/api' must be only a host, host:port or "
        "scheme://host[:port]",
        id="controller-host-with-path",
    ),
    pytest.param(
        'tenant = "admin"',
        'tenant = ""',
        "[controller] tenant: must not be empty",
        id="empty-tenant",
    ),
    pytest.param(
        'se_group = "S1-AZ1-SE-Group"',
        'se_group = "  "',
        "[controller] se_group: must not be empty",
        id="blank-se-group",
    ),
    pytest.param(
        "node_networks = []",
        'node_networks = [{ name = "NODES", cidrs = ["10.10.24.0/33"] }]',
        "[network] node_networks[0].cidrs[0]: '10.10.24.0/33' is not a valid CIDR",
        id="node-network-bad-cidr",
    ),
    pytest.param(
        "node_networks = []",
        'node_networks = [{ name = "NODES", cidr = "10.10.24.0/24" }]',
        "[network] node_networks[0].cidr: unknown key (did you mean 'cidrs'?)",
        id="node-network-misspelt-key",
    ),
    pytest.param(
        "node_networks = []",
        "node_networks = ["
        + ", ".join(f'{{ name = "N{i}", cidrs = ["10.{i}.0.0/16"] }}' for i in range(6))
        + "]",
        "[network] node_networks: allows at most 5 entries, got 6",
        id="too-many-node-networks",
    ),
    pytest.param(
        'vip_networks = [{ name = "AVI_FRONTEND_3025", cidr = "10.10.25.0/24" }]',
        'vip_networks = [{ name = "A", cidr = "10.10.25.0/24" },'
        ' { name = "A", cidr = "10.10.26.0/24" }]',
        "[network] vip_networks[1].name: 'A' is listed twice",
        id="duplicate-vip-network",
    ),
    pytest.param(
        'vip_networks = [{ name = "AVI_FRONTEND_3025", cidr = "10.10.25.0/24" }]',
        'vip_networks = [{ name = "AVI_FRONTEND_3025", cidr = "10.10.25.0/24",'
        ' v6cidr = "10.10.26.0/24" }]',
        "[network] vip_networks[0].v6cidr: '10.10.26.0/24' is not an IPv6 CIDR",
        id="v6cidr-not-ipv6",
    ),
    pytest.param(
        'vip_networks = [{ name = "AVI_FRONTEND_3025", cidr = "10.10.25.0/24" }]',
        'vip_networks = [{ name = "AVI_FRONTEND_3025" }]',
        "[network] vip_networks[0].cidr: required key is missing",
        id="vip-network-without-cidr",
    ),
    pytest.param(
        "blocked = []",
        'blocked = ["kube-system", "Kube_Public"]',
        "[namespaces] blocked[1]: 'Kube_Public' is not a namespace name "
        "(lower-case letters, digits and '-', at most 63)",
        id="bad-blocked-namespace",
    ),
    pytest.param(
        'level = "info"',
        'level = "WARN"',
        "[log] level: 'WARN' is not one of debug, info, warning, error (did you mean 'warning'?)",
        id="ako-log-level",
    ),
    pytest.param(
        'path = "/var/lib/akod/state.db"',
        'path = ""',
        "[state] path: must not be empty",
        id="empty-state-path",
    ),
    pytest.param(
        "pod_network = []",
        'pod_network = ["10.244.0.0/16", "10.245.0.1/16"]',
        "[routes] pod_network[1]: '10.245.0.1/16' has host bits set (did you mean '10.245.0.0/16'?)",
        id="pod-network-host-bits",
    ),
    pytest.param(
        "pod_network = []",
        'pod_network = ["::/0"]',
        "[routes] pod_network[0]: '::/0' is every address: a node could then route all traffic; "
        "name the cluster's pod network(s)",
        id="pod-network-everything",
    ),
    pytest.param(
        "pod_network = []",
        'pod_network = "10.244.0.0/16"',
        "[routes] pod_network: expected an array, got '10.244.0.0/16'",
        id="pod-network-not-a-list",
    ),
    pytest.param(
        "[routes]",
        "[routes]\nl7 = 1\n[routes2]",
        "[routes] l7: unknown key",
        id="unknown-key-without-suggestion",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_broken_config_names_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert message in errors_of(tmp_path, example_with(old, new))


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    text = example_with("rate = 20.0", "rate = -1").replace("workers = 8", "workers = 0")
    messages = errors_of(tmp_path, text)
    assert messages == ["[api] rate: must be >= 0, got -1", "[api] workers: must be >= 1, got 0"]


def test_missing_sections_are_reported_key_by_key(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, "[log]\nlevel = 'debug'\n")
    assert messages == [
        "[cluster] name: required key is missing",
        "[controller] host: required key is missing",
        "[controller] se_group: required key is missing",
    ]


def test_key_outside_any_section_points_to_its_section(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, 'se_group = "x"\n' + MINIMAL)
    assert "se_group: unknown key outside any section (it belongs in [controller])" in messages


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, "api = 5\n" + MINIMAL)
    assert "[api]: expected a table, got 5" in messages


def test_insecure_and_ca_file_together_are_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "[controller]\n", '[controller]\ninsecure = true\nca_file = "/etc/ca.pem"\n'
    )
    assert errors_of(tmp_path, text) == [
        "[controller] insecure: true skips certificate verification, so ca_file would be "
        "ignored; set one of them"
    ]


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    messages = errors_of(tmp_path, MINIMAL + "[api]\nrate = \n")
    assert messages == ["TOML syntax error at line 9, column 8: invalid value"]


def test_toml_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    text = MINIMAL.replace('name = "S1-AZ1"', 'name = "S1-AZ1"\nname = "again"')
    assert errors_of(tmp_path, text) == [
        "TOML syntax error at line 4, column 15: cannot overwrite a value"
    ]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing)
    assert str(caught.value) == f"{missing}: no such file; start from config.example.toml"


def test_config_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "akod.toml"
    path.write_bytes(b'[cluster]\nname = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "not UTF-8" in str(caught.value)


def test_error_text_is_every_message_prefixed_by_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, example_with("workers = 8", "workers = 0").replace("burst = 40", "burst = 0")
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).splitlines() == [
        f"{path}: [api] burst: must be >= 1, got 0",
        f"{path}: [api] workers: must be >= 1, got 0",
    ]


def test_error_text_never_shows_pydantic_wording(tmp_path: Path) -> None:
    text = example_with('shard_vs_size = "LARGE"', "shard_vs_size = 3").replace(
        'tenant = "admin"', "tenant = []"
    )
    rendered = "\n".join(errors_of(tmp_path, text))
    assert "[l7] shard_vs_size: expected a string, got 3" in rendered
    assert "[controller] tenant: expected a string, got an array" in rendered
    for pydantic_wording in ("Input should", "validation error", "pydantic", "type="):
        assert pydantic_wording not in rendered


def test_controller_host_with_credentials_is_refused_without_echoing_them(tmp_path: Path) -> None:
    text = MINIMAL.replace('"10.10.20.43"', '"https://admin:hunter2@10.10.20.43"')
    rendered = "\n".join(errors_of(tmp_path, text))
    assert "[controller] host: must not contain a user name or password" in rendered
    assert "hunter2" not in rendered


def test_parse_settings_without_a_file_has_no_prefix() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(MINIMAL + "[api]\nworkers = 0\n")
    assert str(caught.value) == "[api] workers: must be >= 1, got 0"


def test_describe_is_json_with_derived_values() -> None:
    described = describe(load_settings(EXAMPLE))

    assert json.loads(json.dumps(described)) == described
    assert described["controller"]["base_url"] == "https://10.10.20.43"
    assert described["controller"]["password_file"] == "/etc/akod/password"
    assert described["l7"]["shard_count"] == 8
    assert described["network"]["vip_networks"] == [
        {"name": "AVI_FRONTEND_3025", "cidr": "10.10.25.0/24", "v6cidr": ""}
    ]
    assert described["status"]["listen"] == "127.0.0.1:8181"
    assert described["state"]["path"] == "/var/lib/akod/state.db"
