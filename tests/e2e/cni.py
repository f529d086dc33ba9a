"""The CNIs' custom resources in the test apiserver: their CRDs installed for one test, then removed.

The apiserver is shared by the whole session and every other test must see a cluster without
Calico, Cilium or OpenShift, so `CniCrds.remove_all` deletes the CRDs it installed (their objects
go with them) and waits until API discovery no longer serves their group/version.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.polling import eventually
from akod.kube.listing import served_resources

CRDS = Path(__file__).resolve().parents[1] / "fixtures" / "crds"
# name -> (manifest, group, version, plural)
KNOWN = {
    "calico": ("calico-blockaffinities.yaml", "crd.projectcalico.org", "v1", "blockaffinities"),
    "cilium": ("cilium-ciliumnodes.yaml", "cilium.io", "v2", "ciliumnodes"),
    "openshift": ("openshift-hostsubnets.yaml", "network.openshift.io", "v1", "hostsubnets"),
}


class CniCrds:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.ext = client.ApiextensionsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.installed: list[str] = []

    async def _served(self, cni: str) -> bool:
        _, group, version, plural = KNOWN[cni]
        served = await served_resources(self.api, group_version=f"{group}/{version}")
        return served is not None and plural in served

    async def install(self, cni: str) -> None:
        manifest = yaml.safe_load((CRDS / KNOWN[cni][0]).read_text())
        self.installed.append(cni)
        await self.ext.create_custom_resource_definition(manifest)
        await eventually(lambda: self._served(cni), timeout=30, what=f"the {cni} CRD served")

    async def create(self, cni: str, body: dict[str, Any]) -> None:
        _, group, version, plural = KNOWN[cni]
        await self.custom.create_cluster_custom_object(group, version, plural, body)

    async def patch(self, cni: str, name: str, body: dict[str, Any]) -> None:
        _, group, version, plural = KNOWN[cni]
        await self.custom.patch_cluster_custom_object(group, version, plural, name, body,
                                                      _content_type="application/merge-patch+json")

    async def delete(self, cni: str, name: str) -> None:
        _, group, version, plural = KNOWN[cni]
        await self.custom.delete_cluster_custom_object(group, version, plural, name)

    async def remove_all(self) -> None:
        for cni in self.installed:
            manifest = yaml.safe_load((CRDS / KNOWN[cni][0]).read_text())
            with contextlib.suppress(ApiException):
                await self.ext.delete_custom_resource_definition(manifest["metadata"]["name"])

            async def gone(cni: str = cni) -> bool:
                return not await self._served(cni)

            await eventually(gone, timeout=60, what=f"the {cni} CRD gone")
        self.installed = []


def block(node: str, cidr: str, *, state: str = "confirmed", deleted: str = "false") -> dict[str, Any]:
    """A Calico BlockAffinity named as Calico names them (`<node>-<cidr with dashes>`)."""
    name = f"{node}-{cidr.replace('.', '-').replace('/', '-').replace(':', '-')}"
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity", "metadata": {"name": name},
            "spec": {"node": node, "cidr": cidr, "state": state, "deleted": deleted}}


def cilium_node(name: str, cidrs: list[str]) -> dict[str, Any]:
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNode", "metadata": {"name": name},
            "spec": {"ipam": {"podCIDRs": cidrs}}}


def host_subnet(name: str, host: str, subnet: str, host_ip: str) -> dict[str, Any]:
    return {"apiVersion": "network.openshift.io/v1", "kind": "HostSubnet", "metadata": {"name": name},
            "host": host, "hostIP": host_ip, "subnet": subnet}
