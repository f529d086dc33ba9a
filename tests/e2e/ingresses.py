"""Creating Ingresses, IngressClasses and TLS Secrets the way users do (no controller runs here).

Tests describe Ingresses in the networking.k8s.io/v1 shape (`path`, `rule`); `Ingresses` writes
them in the version the apiserver under test serves (v1beta1 on the 1.18 surface: see
`akod.devenv.ingressapi`) and reads them back as served, as dicts (`get`, `status`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from akod.devenv.certs import self_signed, tls_secret
from akod.devenv.ingressapi import IngressApi
from akod.devenv.seed import INGRESS_CLASS, INGRESS_CONTROLLER, create_ingress_class

AVI_CLASS = INGRESS_CLASS


def make_cert(host: str, *, days: int = 30, expired: bool = False) -> tuple[str, str]:
    """A self-signed certificate for `host` and its key, both PEM (expired: ended yesterday)."""
    now = dt.datetime.now(dt.timezone.utc)
    if expired:
        return self_signed(host, valid_from=now - dt.timedelta(days=10), valid_to=now - dt.timedelta(days=1))
    return self_signed(host, valid_to=now + dt.timedelta(days=days))


def path(p: str, service: str, port: int | str, *, path_type: str = "Prefix") -> dict[str, Any]:
    port_ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": p, "pathType": path_type, "backend": {"service": {"name": service, "port": port_ref}}}


def rule(host: str | None, *paths: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"http": {"paths": list(paths)}}
    if host:
        body["host"] = host
    return body


class Ingresses:
    def __init__(self, api: client.ApiClient, *, net: IngressApi) -> None:
        self.net = net
        self.core = client.CoreV1Api(api)
        self.made: list[tuple[str, str, str]] = []

    async def ensure_class(self, name: str = AVI_CLASS, *, controller: str = INGRESS_CONTROLLER) -> None:
        if self.net.class_version is None:
            return  # the server has no IngressClass API (Kubernetes <= 1.17)
        with contextlib.suppress(ApiException):
            await create_ingress_class(self.net, name=name, controller=controller)
            self.made.append(("IngressClass", "", name))

    async def create(self, ns: str, name: str, *, rules: Sequence[dict[str, Any]],
                     tls: Sequence[tuple[Sequence[str], str]] = (), class_name: str | None = AVI_CLASS,
                     default_backend: tuple[str, int] | None = None,
                     annotations: dict[str, str] | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"rules": list(rules)}
        if class_name:
            spec["ingressClassName"] = class_name
        if tls:
            spec["tls"] = [{"hosts": list(hosts), "secretName": secret} for hosts, secret in tls]
        if default_backend:
            spec["defaultBackend"] = {"service": {"name": default_backend[0],
                                                  "port": {"number": default_backend[1]}}}
        ing = await self.net.create_namespaced_ingress(
            ns, {"metadata": {"name": name, "annotations": dict(annotations or {})}, "spec": spec})
        self.made.append(("Ingress", ns, name))
        return ing

    async def patch(self, ns: str, name: str, body: dict[str, Any]) -> None:
        await self.net.patch_namespaced_ingress(name, ns, body)

    async def replace_rules(self, ns: str, name: str, rules: Sequence[dict[str, Any]]) -> None:
        body = await self.net.read_namespaced_ingress(name, ns)
        body["spec"]["rules"] = self.net.as_served({"spec": {"rules": list(rules)}})["spec"]["rules"]
        await self.net.replace_namespaced_ingress(name, ns, body)

    async def get(self, ns: str, name: str) -> dict[str, Any]:
        """The Ingress as the server serves it (a dict, in its version's shape)."""
        return await self.net.read_namespaced_ingress(name, ns)

    async def annotations(self, ns: str, name: str) -> dict[str, str]:
        return dict((await self.get(ns, name)).get("metadata", {}).get("annotations") or {})

    async def status(self, ns: str, name: str) -> list[dict[str, str]]:
        ing = await self.get(ns, name)
        entries = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return sorted(({k: v for k, v in e.items() if v and k in ("ip", "hostname")} for e in entries),
                      key=lambda e: (e.get("hostname", ""), e.get("ip", "")))

    async def delete(self, ns: str, name: str) -> None:
        await self.net.delete_namespaced_ingress(name, ns)

    async def secret(self, ns: str, name: str, *, cert: str, key: str) -> None:
        body = tls_secret(name, cert=cert, key=key)
        try:
            await self.core.create_namespaced_secret(ns, body)
            self.made.append(("Secret", ns, name))
        except ApiException as exc:
            if exc.status != 409:
                raise
            await self.core.replace_namespaced_secret(name, ns, body)

    async def delete_secret(self, ns: str, name: str) -> None:
        await self.core.delete_namespaced_secret(name, ns)

    async def events_for(self, ns: str, name: str) -> list[Any]:
        events = await self.core.list_namespaced_event(ns)
        return [e for e in events.items if e.involved_object.name == name and e.involved_object.kind == "Ingress"]

    async def delete_all(self) -> None:
        for kind, ns, name in reversed(self.made):
            with contextlib.suppress(ApiException):
                if kind == "Ingress":
                    await self.net.delete_namespaced_ingress(name, ns)
                elif kind == "Secret":
                    await self.core.delete_namespaced_secret(name, ns)
                else:
                    await self.net.delete_ingress_class(name)
        self.made.clear()
