"""Names of the Avi objects of an L4 virtual service: AKO's, so both can manage the same objects.

A dedicated Service `svc` in namespace `ns` gives the virtual service, its VsVip and its L4 policy
set the name `<cluster>--<ns>-<svc>`, and one pool per Service port
`<cluster>--<ns>-<svc>-<PROTOCOL>-<port>`. Services grouped by the annotation
`ako.vmware.com/enable-shared-vip: <key>` share `<cluster>--<ns>-<key>`; their pools carry both
names, `<cluster>--<ns>-<svc>-<key>-<PROTOCOL>-<port>`, since two Services of one group may
listen on the same port number with different protocols (reference §3.1).

The controller refuses names over 255 characters; AKO skips such objects with a log line. Here the
translation reports them as problems (see `too_long`).
"""

from __future__ import annotations

MAX_NAME_LENGTH = 255


def vs_name(*, cluster: str, namespace: str, name: str) -> str:
    """The virtual service, VsVip and L4 policy set name; `name` is the Service or the shared-VIP key."""
    return f"{cluster}--{namespace}-{name}"


def pool_name(*, cluster: str, namespace: str, service: str, protocol: str, port: int, shared_key: str = "") -> str:
    if shared_key:
        return f"{cluster}--{namespace}-{service}-{shared_key}-{protocol}-{port}"
    return f"{cluster}--{namespace}-{service}-{protocol}-{port}"


def too_long(name: str) -> bool:
    return len(name) > MAX_NAME_LENGTH
