"""VIP address management: what the controller's internal IPAM does for a VsVip.

A VsVip vip with `auto_allocate_ip: true` and `ipam_network_subnet` gets a free address from the
network's static ranges meant for VIPs (`STATIC_IPS_FOR_VIP` / `STATIC_IPS_FOR_VIP_AND_SE`); a
requested `ip_address` is honoured when it lies in the subnet and nobody holds it. Exhaustion is
the controller's 400 `No available free IPs`, which AKO retries on. Addresses are held per
(network, address) by the VsVip that got them, kept across its updates, and freed on delete.
Allocation scans from a per-network cursor, so a run of thousands of VIPs stays linear.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from akod.emulator.errors import bad_request

VIP_RANGE_TYPES = frozenset({"STATIC_IPS_FOR_VIP", "STATIC_IPS_FOR_VIP_AND_SE"})
NO_FREE_IPS = "No available free IPs"

Network4 = ipaddress.IPv4Network


@dataclass(frozen=True, slots=True)
class Claim:
    network: str  # network uuid
    address: int


@dataclass(slots=True)
class Ipam:
    _holders: dict[tuple[str, int], str] = field(default_factory=dict)  # claim -> vsvip uuid
    _owned: dict[str, set[Claim]] = field(default_factory=dict)  # vsvip uuid -> claims
    _cursor: dict[str, int] = field(default_factory=dict)  # network uuid -> next address

    def held_by(self, owner: str) -> set[Claim]:
        return set(self._owned.get(owner, ()))

    def holder(self, network: str, address: str) -> str | None:
        return self._holders.get((network, int(ipaddress.IPv4Address(address))))

    def allocated(self, network: str) -> list[str]:
        """Addresses held in a network (for tests and /_emulator/objects)."""
        return sorted(
            str(ipaddress.IPv4Address(a)) for (n, a) in self._holders if n == network
        )

    def claim(
        self,
        *,
        owner: str,
        network_uuid: str,
        network_name: str,
        network_body: dict[str, Any],
        subnet: Network4 | None,
        requested: str | None,
    ) -> Claim:
        """Reserve `requested` (or the next free VIP address) for `owner`."""
        subnets = configured_subnets(network_body)
        if requested is not None:
            try:
                address = ipaddress.IPv4Address(requested)
            except ValueError as exc:
                raise bad_request(f"Invalid VIP address '{requested}'") from exc
            inside = [subnet] if subnet is not None else subnets
            if not any(address in s for s in inside):
                where = str(subnet) if subnet is not None else ", ".join(map(str, subnets)) or "-"
                raise bad_request(
                    f"IP address {address} is not in subnet {where} of network {network_name}"
                )
            holder = self._holders.get((network_uuid, int(address)))
            if holder is not None and holder != owner:
                raise bad_request(f"IP address {address} is already in use in network {network_name}")
            return self._take(owner, Claim(network_uuid, int(address)))
        ranges = vip_ranges(network_body, subnet)
        address_int = self._next_free(network_uuid, ranges)
        if address_int is None:
            raise bad_request(NO_FREE_IPS)
        return self._take(owner, Claim(network_uuid, address_int))

    def keep_only(self, owner: str, claims: set[Claim]) -> None:
        """After an update: free what `owner` held but no longer uses."""
        for old in self.held_by(owner) - claims:
            self._holders.pop((old.network, old.address), None)
            self._owned[owner].discard(old)
        if not self._owned.get(owner):
            self._owned.pop(owner, None)

    def release(self, owner: str) -> None:
        self.keep_only(owner, set())

    def _take(self, owner: str, claim: Claim) -> Claim:
        self._holders[(claim.network, claim.address)] = owner
        self._owned.setdefault(owner, set()).add(claim)
        return claim

    def _next_free(self, network: str, ranges: list[tuple[int, int]]) -> int | None:
        total = sum(end - begin + 1 for begin, end in ranges)
        if total <= 0:
            return None
        start = self._cursor.get(network, ranges[0][0])
        candidates = _walk(ranges, start)
        for _ in range(total):
            address = next(candidates)
            if (network, address) not in self._holders:
                self._cursor[network] = address + 1
                return address
        return None


def _walk(ranges: list[tuple[int, int]], start: int) -> Iterator[int]:
    """Addresses of all ranges, beginning at `start` and wrapping around, forever."""
    ordered = sorted(ranges)
    while True:
        for begin, end in ordered:
            if end < start:
                continue
            yield from range(max(begin, start), end + 1)
        start = ordered[0][0]


def _v4(ip: Any) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, dict) or ip.get("type", "V4") != "V4":
        return None
    try:
        return ipaddress.IPv4Address(ip.get("addr", ""))
    except ValueError:
        return None


def prefix_network(prefix: Any) -> Network4 | None:
    """An `IpAddrPrefix` ({ip_addr: {addr, type}, mask}) as an IPv4 network."""
    if not isinstance(prefix, dict):
        return None
    address = _v4(prefix.get("ip_addr"))
    if address is None:
        return None
    try:
        return ipaddress.IPv4Network(f"{address}/{int(prefix.get('mask', 32))}", strict=False)
    except ValueError:
        return None


def configured_subnets(network_body: dict[str, Any]) -> list[Network4]:
    subnets = []
    for subnet in network_body.get("configured_subnets") or []:
        net = prefix_network(subnet.get("prefix"))
        if net is not None:
            subnets.append(net)
    return subnets


def vip_ranges(network_body: dict[str, Any], within: Network4 | None) -> list[tuple[int, int]]:
    """The network's static VIP ranges as (first, last) integers, clipped to `within`."""
    ranges: list[tuple[int, int]] = []
    for subnet in network_body.get("configured_subnets") or []:
        net = prefix_network(subnet.get("prefix"))
        if net is None or (within is not None and not net.overlaps(within)):
            continue
        for static in subnet.get("static_ip_ranges") or []:
            if static.get("type", "STATIC_IPS_FOR_VIP_AND_SE") not in VIP_RANGE_TYPES:
                continue
            span = static.get("range") or {}
            begin, end = _v4(span.get("begin")), _v4(span.get("end"))
            if begin is None or end is None:
                continue
            low, high = int(begin), int(end)
            if within is not None:
                low = max(low, int(within.network_address))
                high = min(high, int(within.broadcast_address))
            if low <= high:
                ranges.append((low, high))
    return ranges


def address_text(address: int) -> str:
    return str(ipaddress.IPv4Address(address))
