"""`akod check --offline`: the example config passes; broken configs exit 2 naming the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, akod_cli

GOOD = (REPO / "config.example.toml").read_text()


def test_example_config_passes_offline_check() -> None:
    result = akod_cli("check", "--offline", "--config", str(REPO / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def _replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


BROKEN = {
    "bad vip cidr": (_replace('cidr = "10.10.25.0/24"', 'cidr = "10.10.25.0/33"'), "[network] vip_networks[0].cidr"),
    "unknown key": (_replace("[l7]\n", "[l7]\nshard_size = \"LARGE\"\n"), "[l7] shard_size"),
    "bad shard size": (_replace('shard_vs_size = "LARGE"', 'shard_vs_size = "HUGE"'), "[l7] shard_vs_size"),
    "bad service type": (_replace('service_type = "ClusterIP"', 'service_type = "LoadBalancer"'), "[l7] service_type"),
    "negative rate": (_replace("rate = 20.0", "rate = -1.0"), "[api] rate"),
    "rate not a number": (_replace("rate = 20.0", 'rate = "fast"'), "[api] rate"),
    "zero workers": (_replace("workers = 8", "workers = 0"), "[api] workers"),
    "bad listen": (_replace('listen = "127.0.0.1:8181"', 'listen = "127.0.0.1:99999"'), "[status] listen"),
    "bad log level": (_replace('level = "info"', 'level = "verbose"'), "[log] level"),
    "bad auto fqdn": (_replace('auto_fqdn = "default"', 'auto_fqdn = "sometimes"'), "[l4] auto_fqdn"),
    "missing cluster name": (_replace('name = "S1-AZ1"', ""), "[cluster] name"),
    "bad version": (_replace('version = "20.1.2"', 'version = "twenty"'), "[controller] version"),
    "toml syntax": (GOOD + "\n[broken\n", "line"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_exits_2_naming_the_key(case: str, tmp_path: Path) -> None:
    text, key = BROKEN[case]
    path = tmp_path / "akod.toml"
    path.write_text(text)
    result = akod_cli("check", "--offline", "--config", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert key in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = akod_cli("check", "--offline", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml" in result.stderr


def test_run_refuses_a_world_readable_password_file(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("secret\n")
    password.chmod(0o644)
    config = tmp_path / "akod.toml"
    config.write_text(_replace('password_file = "/etc/akod/password"', f'password_file = "{password}"'))
    result = akod_cli("run", "--config", str(config))
    assert result.returncode == 2
    assert f"chmod 600 {password}" in result.stderr
    assert "secret" not in result.stderr + result.stdout


def test_import_helm_prints_a_config_that_passes_check(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(textwrap.dedent("""
        AKOSettings:
          clusterName: S1-AZ1
          disableStaticRouteSync: "false"
        NetworkSettings:
          vipNetworkList:
            - networkName: AVI_FRONTEND_3025
              cidr: 10.10.25.0/24
        L7Settings:
          serviceType: ClusterIP
          shardVSSize: SMALL
        ControllerSettings:
          serviceEngineGroupName: S1-AZ1-SE-Group
          controllerVersion: 20.1.2
          cloudName: Default-Cloud
          controllerHost: 10.10.20.43
        avicredentials:
          username: admin
          password: not-to-be-copied
    """))
    result = akod_cli("config", "import-helm", str(values))
    assert result.returncode == 0, result.stderr
    assert "not-to-be-copied" not in result.stdout
    config = tmp_path / "akod.toml"
    config.write_text(result.stdout)
    check = akod_cli("check", "--offline", "--config", str(config))
    assert check.returncode == 0, check.stderr
