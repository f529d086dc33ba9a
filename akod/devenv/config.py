"""The akod configuration of the seed scenario, written the same way for tests, benchmarks and demo.

The daemon under test reads a TOML file like any other user's, so the harness writes one: cluster
S1-AZ1 (SE group ``<cluster>-SE-Group``) against the emulator's seed fixtures, VIP network
AVI_FRONTEND_3025, the state database and status address of one work directory. The seed's second
cluster, S1-AZ2, has its own SE group and VIP network AVI_FRONTEND_3026 (10.10.26.0/24, VRF_AZ2):
``options.of(SEED_AZ2)`` makes a daemon of it. What differs
between users of the harness is only a few choices, gathered in :class:`SeedOptions`: the e2e
tests pace calls at 50/s with a short timeout and debug logs, the L4 benchmark does not pace at
all and grows the VIP network, the demo keeps akod's defaults.

The text keeps one key per line (``version = "20.1.2"``, ``listen = "127.0.0.1:PORT"``): some
tests edit the written file with a plain string replace.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

SEED_CLUSTER = "S1-AZ1"
SEED_VIP_NETWORK = "AVI_FRONTEND_3025"
SEED_VIP_CIDR = "10.10.25.0/24"


class SeedCluster(NamedTuple):
    """One of the seed's clusters: its name (SE group `<name>-SE-Group`), VIP network and that network's VRF."""

    name: str
    vip_network: str
    vip_cidr: str
    vrf: str


SEED_AZ1 = SeedCluster(SEED_CLUSTER, SEED_VIP_NETWORK, SEED_VIP_CIDR, "VRF_AZ1")
# The seed's second cluster on the same controller: its own SE group, VIP network and VRF.
SEED_AZ2 = SeedCluster("S1-AZ2", "AVI_FRONTEND_3026", "10.10.26.0/24", "VRF_AZ2")


@dataclass(frozen=True, kw_only=True)
class SeedOptions:
    """What a harness user may choose; the defaults are akod's own (config.example.toml)."""

    cluster: str = SEED_CLUSTER
    vip_network: str = SEED_VIP_NETWORK
    vip_cidr: str = SEED_VIP_CIDR
    routes_disabled: bool = False
    network_extra: str = ""  # more keys of [network] (e.g. 'ip_family = "V4_V6"\n')
    api_rate: float = 20.0
    api_burst: int = 40
    api_workers: int = 8
    api_timeout_s: float = 60.0
    log_level: str = "info"
    extra: str = ""  # more TOML tables, appended as they are (e.g. '[l7]\nshard_vs_size = "SMALL"\n')
    comment: str = "written by akod.devenv: the seed scenario against a local apiserver and emulator"

    def of(self, cluster: SeedCluster) -> SeedOptions:
        """These choices for another of the seed's clusters (name, VIP network and CIDR)."""
        return replace(self, cluster=cluster.name, vip_network=cluster.vip_network, vip_cidr=cluster.vip_cidr)


def seed_config(*, kubeconfig: Path, controller_url: str, password_file: Path, state: Path, listen: str,
                options: SeedOptions = SeedOptions()) -> str:
    """The TOML text of the seed scenario's config for a daemon with these files and status address."""
    o = options
    return f"""# {o.comment}
[cluster]
name = "{o.cluster}"
kubeconfig = "{kubeconfig}"

[controller]
host = "{controller_url}"
version = "20.1.2"
username = "admin"
password_file = "{password_file}"
tenant = "admin"
cloud = "Default-Cloud"
se_group = "{o.cluster}-SE-Group"

[network]
vip_networks = [{{ name = "{o.vip_network}", cidr = "{o.vip_cidr}" }}]
default_domain = "avi.iberia.local"
{o.network_extra}
[routes]
disable_static_route_sync = {"true" if o.routes_disabled else "false"}

[api]
rate = {o.api_rate:g}
burst = {o.api_burst}
workers = {o.api_workers}
timeout_s = {o.api_timeout_s:g}

[state]
path = "{state}"

[status]
listen = "{listen}"

[log]
level = "{o.log_level}"
{o.extra}"""


def write_password_file(path: Path, password: str) -> Path:
    """The controller password in a file only its owner reads, as `password_file` expects."""
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path
