"""Issue 2, operating akod: status and state commands, plan, cleanup, sd_notify, SE group ownership."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.e2e.conftest import Controller, Nodes, hops
from tests.e2e.harness import akod_cli, eventually
from tests.e2e.test_static_routes import SEED_HOPS, routes_become, seeded_daemon


async def test_status_and_state_commands_show_the_running_daemon(controller, nodes: Nodes, make_daemon) -> None:
    akod = await seeded_daemon(controller, nodes, make_daemon)
    summary = akod_cli("status", "--url", akod.url)
    assert summary.returncode == 0, summary.stdout + summary.stderr
    assert "ready" in summary.stdout and "VRF_AZ1" in summary.stdout and "3 static routes" in summary.stdout
    as_json = json.loads(akod_cli("status", "--config", str(akod.config), "--json").stdout)
    assert as_json["cluster"] == "S1-AZ1" and as_json["sync"]["in_sync"] is True
    for key in ("version", "uptime_s", "leader", "controller", "kubernetes", "sync", "objects", "errors"):
        assert key in as_json
    body = json.dumps(as_json) + (await akod.get("/metrics"))[1]
    assert "admin\"" not in body.replace('"admin"', "")  # no password-ish leftovers
    assert "csrftoken" not in body and "sessionid" not in body
    cursors = json.loads(akod_cli("state", "--config", str(akod.config), "cursors", "--json").stdout)
    assert [c["resource"] for c in cursors] == ["endpoints", "ingressclasses", "ingresses", "namespaces", "nodes",
                                               "secrets", "services"]
    objects = akod_cli("state", "--config", str(akod.config), "objects")
    assert objects.returncode == 0 and "vrfcontext" in objects.stdout and "in sync" in objects.stdout
    journal = json.loads(akod_cli("state", "--config", str(akod.config), "journal", "--json").stdout)
    assert journal and all(j["state"] == "done" for j in journal if j["op"] == "PUT")
    code, metrics = await akod.get("/metrics")
    assert code == 200 and "akod_avi_calls_total" in metrics and "akod_sync_queue_depth" in metrics
    assert 'akod_watch_relists{resource="nodes"} 1.0' in metrics
    assert akod.stop() == 0
    nobody = akod_cli("status", "--url", akod.url)
    assert nobody.returncode == 3


async def test_plan_shows_pending_routes_and_writes_nothing(controller: Controller, nodes: Nodes, make_daemon) -> None:
    await nodes.seed()
    akod = make_daemon()
    writes = len(await controller.writes())
    plan = akod_cli("plan", "--config", str(akod.config))
    assert plan.returncode == 10, plan.stdout + plan.stderr
    assert plan.stdout.count("create static route") == 3
    assert len(await controller.writes()) == writes
    akod.start()
    await akod.wait_in_sync()
    await routes_become(controller, SEED_HOPS)
    assert akod.stop() == 0
    again = akod_cli("plan", "--config", str(akod.config), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["changes"] == 0


async def test_cleanup_removes_only_this_clusters_routes(controller: Controller, nodes: Nodes, make_daemon) -> None:
    hand = {"route_id": "hand-made-1", "prefix": {"ip_addr": {"addr": "192.168.50.0", "type": "V4"}, "mask": 24},
            "next_hop": {"addr": "10.10.25.1", "type": "V4"}}
    await controller.add_route(hand)
    akod = await seeded_daemon(controller, nodes, make_daemon)
    assert akod.stop() == 0
    dry = akod_cli("cleanup", "--config", str(akod.config))
    assert dry.returncode == 0 and "would remove 3" in dry.stdout
    assert len(hops(await controller.vrf_routes())) == 3
    done = akod_cli("cleanup", "--config", str(akod.config), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    routes = await controller.vrf_routes()
    assert hops(routes) == {} and [r["route_id"] for r in routes] == ["hand-made-1"]
    seg = await controller.one("serviceenginegroup", "S1-AZ1-SE-Group")
    assert not any(lb.get("key") == "clustername" for lb in seg.get("labels") or [])


async def test_se_group_of_another_cluster_is_refused(controller: Controller, nodes: Nodes, make_daemon) -> None:
    seg = await controller.one("serviceenginegroup", "S1-AZ1-SE-Group")
    body = dict(seg, labels=[{"key": "clustername", "value": "S1-AZ2"}])
    code, answer = await controller.call("PUT", f"/api/serviceenginegroup/{seg['uuid']}", body)
    assert code == 200, answer
    await nodes.seed()
    akod = make_daemon()
    akod.start()
    assert akod.proc is not None
    code = akod.proc.wait(timeout=30)
    assert code == 2
    assert "S1-AZ1-SE-Group" in akod.log() and "clustername=S1-AZ2" in akod.log()
    assert hops(await controller.vrf_routes()) == {}


async def test_sd_notify_ready_and_watchdog(controller: Controller, nodes: Nodes, make_daemon, tmp_path: Path) -> None:
    await nodes.seed()
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    messages: list[str] = []
    akod = make_daemon()
    akod.start(env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"})

    async def drain(needle: str) -> bool:
        try:
            while True:
                messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            pass
        return any(needle in m for m in messages)

    try:
        await eventually(lambda: drain("READY=1"), timeout=30, what="READY=1")
        await eventually(lambda: drain("WATCHDOG=1"), timeout=10, what="WATCHDOG=1")
        assert any(m.startswith("STATUS=") or "\nSTATUS=" in m for m in messages)
        assert akod.stop() == 0
        await eventually(lambda: drain("STOPPING=1"), timeout=5, what="STOPPING=1")
    finally:
        sock.close()


async def test_the_password_never_leaves_the_credential(nodes: Nodes, tmp_path: Path, kubeconfig: Path) -> None:
    from tests.e2e.conftest import EmulatorProcess
    from tests.e2e.harness import DaemonProcess

    secret = "s3cr3t-Pa55w0rd-7f1e"
    emu = EmulatorProcess(password=secret)
    akod = DaemonProcess(workdir=tmp_path / "akod", kubeconfig=kubeconfig, controller_url=emu.url, password=secret)
    try:
        await nodes.seed()
        akod.start()
        await akod.wait_in_sync()
        assert akod.proc is not None
        cmdline = Path(f"/proc/{akod.proc.pid}/cmdline").read_bytes().decode(errors="replace")
        environ = Path(f"/proc/{akod.proc.pid}/environ").read_bytes().decode(errors="replace")
        seen = {
            "status": json.dumps(await akod.status()),
            "metrics": (await akod.get("/metrics"))[1],
            "objects": json.dumps((await akod.get("/objects"))[1]),
            "cmdline": cmdline,
            "environ": environ,
        }
        assert akod.stop() == 0
        seen["log"] = akod.log()
        for path in akod.workdir.glob("state.db*"):
            seen[path.name] = path.read_bytes().decode(errors="replace")
        for where, text in seen.items():
            assert secret not in text, f"the password shows in {where}"
        assert (akod.state.stat().st_mode & 0o777) == 0o600
    finally:
        akod.close()
        emu.close()


async def test_check_reaches_both_sides_and_names_what_is_wrong(controller: Controller, nodes: Nodes,
                                                                make_daemon) -> None:
    akod = make_daemon()
    good = akod_cli("check", "--config", str(akod.config))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "VRF VRF_AZ1" in good.stdout
    akod.config.write_text(akod.config.read_text().replace("AVI_FRONTEND_3025", "NO_SUCH_NETWORK"))
    bad = akod_cli("check", "--config", str(akod.config))
    assert bad.returncode == 3, bad.stdout + bad.stderr
    assert "[network] vip_networks[0].name" in bad.stderr and "NO_SUCH_NETWORK" in bad.stderr


async def test_status_endpoint_on_a_unix_socket(controller: Controller, nodes: Nodes, make_daemon,
                                                tmp_path: Path) -> None:
    sock = tmp_path / "status.sock"
    akod = make_daemon()
    akod.config.write_text(akod.config.read_text().replace(f'listen = "127.0.0.1:{akod.port}"',
                                                           f'listen = "unix:{sock}"'))
    akod.start()

    async def answers() -> bool:
        akod.assert_running()
        result = akod_cli("status", "--config", str(akod.config), "--json")
        return result.returncode == 0 and json.loads(result.stdout)["ready"]

    await eventually(answers, timeout=30, what="akod status over the unix socket")
    assert akod.stop() == 0
