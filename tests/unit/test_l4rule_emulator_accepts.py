"""The controller accepts what an L4Rule adds to the L4 bodies: real HTTP against the strict emulator.

Strict mode answers 400 for a field the object model does not have, so a 201 for every object of
a Service whose L4Rule sets every field akod applies proves their names and nesting; the refs
name the seed's objects, and the datascript it lacks is created first. The (network) security
policy refs are left out: the emulator has no such object types yet.
"""

from __future__ import annotations

import aiohttp

from akod.emulator.server import EmulatorServer
from tests.unit.test_l4_emulator_accepts import HEADERS, post_all
from tests.unit.test_l4rule_model import l4rule, named, rules, translate
from tests.unit.test_l4_seed import hackazon

EVERYTHING = {
    "applicationProfileRef": "System-SSL-Application", "networkProfileRef": "System-TCP-Proxy",
    "analyticsProfileRef": "System-Analytics-Profile", "vsDatascriptRefs": ["ds-1"],
    "sslKeyAndCertificateRefs": ["System-Default-Cert"], "sslProfileRef": "System-Standard",
    "performanceLimits": {"maxConcurrentConnections": 100, "maxThroughput": 50},
    "analyticsPolicy": {"fullClientLogs": {"enabled": True, "duration": 0, "throttle": 30}},
    "listenerProperties": [{"port": 80, "protocol": "TCP", "enableSsl": True}],
    "backendProperties": [{
        "port": 80, "protocol": "TCP", "enabled": True, "lbAlgorithm": "LB_ALGORITHM_CONSISTENT_HASH",
        "lbAlgorithmHash": "LB_ALGORITHM_CONSISTENT_HASH_CUSTOM_HEADER", "lbAlgorithmConsistentHashHdr": "X-User",
        "healthMonitorRefs": ["System-TCP", "System-Ping"],
        "applicationPersistenceProfileRef": "System-Persistence-Client-IP", "pkiProfileRef": "System-PKI-Profile",
        "sslProfileRef": "System-Standard", "sslKeyAndCertificateRef": "System-Default-Cert", "minServersUp": 1,
        "analyticsPolicy": {"enableRealtimeMetrics": True}}],
}
# The emulator knows no securitypolicy or networksecuritypolicy type yet: those two refs are left out.
MISSING_FROM_SEED = [("vsdatascriptset", {"name": "ds-1"})]


async def test_strict_controller_accepts_every_field_an_l4rule_sets() -> None:
    result = translate(named(hackazon(), "rule"), rules(l4rule(EVERYTHING)))
    assert result.problems == () and result.l4_rules
    async with EmulatorServer(fixtures="seed", strict=True) as emu:
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            for obj_type, body in MISSING_FROM_SEED:
                async with http.post(f"{emu.url}/api/{obj_type}", json=body) as answer:
                    assert answer.status == 201, (obj_type, await answer.text())
        await post_all(result, emu.url)
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            async with http.get(f"{emu.url}/api/pool", params={"name": "S1-AZ1--default-hackazon-TCP-80"}) as answer:
                (pool,) = (await answer.json())["results"]
    assert pool["lb_algorithm_consistent_hash_hdr"] == "X-User" and len(pool["health_monitor_refs"]) == 2
