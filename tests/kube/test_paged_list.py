"""A relist reads the resource in pages (`limit` + `continue`), one consistent snapshot, on a real apiserver.

Issue 12: a single LIST answer at 10,000 Services was ~80 MB of decoded objects held at once (akod's
peak memory); pages keep that to one page. Pages are made small here so that five Services take three.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from akod.kube import watching
from akod.kube.listing import lister
from akod.kube.trimming import trim_service
from akod.kube.watching import WatchSpec, list_all


async def test_a_relist_reads_every_page_of_one_snapshot(kube_client: client.ApiClient, kube_namespace: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    core = client.CoreV1Api(kube_client)
    for i in range(5):
        await core.create_namespaced_service(kube_namespace, {
            "metadata": {"name": f"paged-{i}"}, "spec": {"ports": [{"port": 80 + i}]}})
    asked: list[dict[str, object]] = []
    plain = lister(kube_client, group_version="v1", plural="services")

    async def counting(**kwargs: object) -> object:
        asked.append(dict(kwargs))
        return await plain(**kwargs)

    monkeypatch.setattr(watching, "LIST_PAGE", 2)
    spec = WatchSpec(resource="services", kind="Service", list_fn=counting, trim=trim_service)

    objects, rv = await list_all(spec)

    ours = sorted(o.name for o in objects if o.namespace == kube_namespace)
    assert ours == [f"paged-{i}" for i in range(5)]
    assert len({(o.namespace, o.name) for o in objects}) == len(objects)  # no object twice across pages
    assert len(asked) >= 3 and all(a["limit"] == 2 for a in asked)
    assert "_continue" not in asked[0] and all(a.get("_continue") for a in asked[1:])
    assert rv and int(rv) > 0
