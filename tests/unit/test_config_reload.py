"""SIGHUP reload: which changed keys apply live and which wait for a restart."""

from __future__ import annotations

import pytest

from akod.config import Settings, changed_keys, parse_settings, restart_required

BASE = """
[cluster]
name = "S1-AZ1"

[controller]
host = "10.10.20.43"
se_group = "S1-AZ1-SE-Group"

[network]
vip_networks = [{ name = "AVI_FRONTEND_3025", cidr = "10.10.25.0/24" }]
"""


def settings(extra: str = "", *, base: str = BASE) -> Settings:
    return parse_settings(base + extra)


def test_identical_settings_change_nothing() -> None:
    assert changed_keys(settings(), settings()) == []
    assert restart_required(settings(), settings()) == []


def test_changed_keys_are_dotted_and_in_file_order() -> None:
    new = settings(
        '[api]\nrate = 5.0\n[log]\nlevel = "debug"\n', base=BASE.replace('S1-AZ1"', 'S1-AZ2"')
    )
    assert changed_keys(settings(), new) == ["cluster.name", "api.rate", "log.level"]


@pytest.mark.parametrize(
    "extra",
    [
        '[log]\nlevel = "debug"\nformat = "json"\n',
        "[api]\nrate = 0.0\nburst = 1\nworkers = 2\ntimeout_s = 5\n",
        '[namespaces]\nblocked = ["kube-system"]\nselector = { key = "akod", value = "yes" }\n',
        '[l4]\nauto_fqdn = "flat"\ndefault_lb_controller = false\n',
        '[l7]\nshard_vs_size = "SMALL"\ndefault_ing_controller = false\n',
        '[l7]\nnode_port_selector = { key = "role", value = "edge" }\n',
        "[routes]\ndisable_static_route_sync = true\n",
    ],
)
def test_live_keys_need_no_restart(extra: str) -> None:
    new = settings(extra)
    assert changed_keys(settings(), new) != []
    assert restart_required(settings(), new) == []


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[l7]\nservice_type = "NodePort"\n', "l7.service_type"),
        ('[status]\nlisten = "127.0.0.1:9999"\n', "status.listen"),
        ('[state]\npath = "/var/lib/akod/other.db"\n', "state.path"),
    ],
)
def test_keys_that_need_a_restart_are_reported(extra: str, key: str) -> None:
    assert restart_required(settings(), settings(extra)) == [key]


def test_controller_and_network_changes_need_a_restart_but_live_ones_are_not_listed() -> None:
    base = (
        BASE.replace('"10.10.20.43"', '"10.10.20.44"')
        .replace("3025", "3026")
        .replace("10.10.25.0", "10.10.26.0")
    )
    new = settings("[api]\nworkers = 4\n", base=base)
    assert restart_required(settings(), new) == ["controller.host", "network.vip_networks"]
    assert "api.workers" in changed_keys(settings(), new)
