"""The DNS names of an L4 virtual service: automatic ones, or those the Service asks for.

With `auto_fqdn = "default"` a Service `svc` in `ns` is published as `svc.ns.<default_domain>`,
with `"flat"` as `svc-ns.<default_domain>` (one label, shortened to 63 characters as AKO does).
Each label is corrected toward RFC 1035 the way AKO does it: a label that is not valid but would
be with a prefix (`s` for the Service name, `n` for the namespace, e.g. a namespace `2048-game`
becomes `n2048-game`) gets that prefix; any other label is left as it is.

The annotation `external-dns.alpha.kubernetes.io/hostname` (one name, or several separated by
commas, as external-dns reads it) replaces the automatic name. Decisions, both AKO's:
`auto_fqdn = "disabled"` turns every FQDN off, the annotation included (the controller may have
no DNS profile at all); an empty `default_domain` turns off only the automatic name. A name in
the annotation that is not a valid host name is left out and reported; the virtual service is
still served, without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from akod.model.l4context import (
    EXTERNAL_DNS_ANNOTATION,
    L4Context,
    annotation_field,
    service_annotations,
    service_ref,
)
from akod.model.problems import Problem, quoted

DNS_LABEL_LENGTH = 63
DNS_NAME_LENGTH = 253
SERVICE_PREFIX = "s"
NAMESPACE_PREFIX = "n"

_RFC1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HOST_LABEL = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?|\*)$")


def is_rfc1035_label(label: str) -> bool:
    return len(label) <= DNS_LABEL_LENGTH and _RFC1035_LABEL.match(label) is not None


def correct_label(label: str, *, prefix: str) -> str:
    """AKO's `CorrectLabelToSatisfyRFC1035`: prefix the label when that alone makes it valid."""
    if is_rfc1035_label(label) or not is_rfc1035_label(prefix + label):
        return label
    return prefix + label


def shorten_for_flat(name: str, namespace: str) -> tuple[str, str]:
    """AKO's `CheckAndShortenLabelToFollowRFC1035`: fit `name-namespace` into one 63-byte label."""
    if len(name) + len(namespace) + 1 <= DNS_LABEL_LENGTH:
        return name, namespace
    room_for_name = DNS_LABEL_LENGTH - len(namespace) - 1
    if room_for_name <= 0:
        room_for_namespace = DNS_LABEL_LENGTH - len(name) - 1
        namespace = namespace[:room_for_namespace] if room_for_namespace > 0 else namespace[:48]
        namespace = namespace.rstrip("-")
        room_for_name = DNS_LABEL_LENGTH - len(namespace) - 1
    return name[:room_for_name], namespace


def auto_fqdn(*, name: str, namespace: str, ctx: L4Context) -> str:
    """The automatic FQDN of a Service, "" when automatic names are off."""
    domain = ctx.default_domain.strip().removeprefix(".").rstrip(".")
    if not domain or ctx.auto_fqdn not in ("default", "flat"):
        return ""
    name = correct_label(name, prefix=SERVICE_PREFIX)
    namespace = correct_label(namespace, prefix=NAMESPACE_PREFIX)
    if ctx.auto_fqdn == "flat":
        name, namespace = shorten_for_flat(name, namespace)
        return f"{name}-{namespace}.{domain}"
    return f"{name}.{namespace}.{domain}"


def is_hostname(text: str) -> bool:
    if not text or len(text) > DNS_NAME_LENGTH:
        return False
    labels = text.split(".")
    if len(labels) < 2 or "*" in labels[1:]:
        return False
    return all(len(label) <= DNS_LABEL_LENGTH and _HOST_LABEL.match(label) for label in labels)


def service_fqdns(*, service: Mapping[str, Any], ctx: L4Context) -> tuple[tuple[str, ...], tuple[Problem, ...]]:
    """The FQDNs of one Service (first = the one written to its status) and the names refused."""
    if ctx.auto_fqdn not in ("default", "flat"):
        return (), ()
    requested = service_annotations(service).get(EXTERNAL_DNS_ANNOTATION)
    if requested is None:
        fqdn = auto_fqdn(name=str(service.get("name", "")), namespace=str(service.get("namespace", "")), ctx=ctx)
        return ((fqdn,) if fqdn else ()), ()
    names: list[str] = []
    problems: list[Problem] = []
    for item in str(requested).split(","):
        host = item.strip().lower().rstrip(".")
        if not host:
            continue
        if not is_hostname(host):
            problems.append(Problem(obj=service_ref(service), field=annotation_field(EXTERNAL_DNS_ANNOTATION),
                                    reason="InvalidHostname",
                                    message=f"{quoted(item.strip())} is not a valid host name; it is not published"))
        elif host not in names:
            names.append(host)
    return tuple(names), tuple(problems)
