"""Injected misbehaviour, so clients can be tested against a controller having a bad day.

`POST /_emulator/faults` sets (replacing the previous set):

    {"rate_limit": {"rate": 32, "burst": 32},          # 429 past a token bucket per client IP
     "errors": [{"method": "POST", "path": "/api/virtualservice", "status": 503,
                 "probability": 0.1, "count": 3}],    # path is a prefix; method/count optional
                 # optional too: "body_contains": "bad.host" (only writes whose body has it),
                 # "message": "..." (the error text answered instead of "Injected fault")
     "latency_ms": {"write": 30, "read": 5},          # added before handling
     "session_ttl_s": 30,                             # sessions end this long after login
     "reset_probability": 0.01,                       # connection dropped without an answer
     "down": true,                                    # 503 for everything but /_emulator
     "seed": 7}                                       # optional: reproducible randomness

A real controller's limits (Broadcom KB 372209) drop requests past the burst with 429 and name no
`Retry-After`; the emulator adds one (seconds until a token is back), which clients may ignore.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from akod.emulator.errors import bad_request

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(slots=True)
class ErrorRule:
    method: str | None
    path: str
    status: int
    probability: float
    count: int | None  # remaining firings; None = unlimited
    body_contains: str = ""  # only requests whose body holds this text (a controller refusing a value)
    message: str = ""  # the error text; "" = "Injected fault: HTTP <status>"

    def matches(self, method: str, path: str, body: str | None = None) -> bool:
        if self.body_contains and (body is None or self.body_contains not in body):
            return False
        return (self.method is None or self.method == method) and path.startswith(self.path)


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else 60.0


@dataclass(slots=True)
class FaultSet:
    rate: float | None = None
    burst: float | None = None
    errors: list[ErrorRule] = field(default_factory=list)
    latency_read_ms: float = 0.0
    latency_write_ms: float = 0.0
    session_ttl_s: float | None = None
    reset_probability: float = 0.0
    down: bool = False
    seed: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def _number(raw: Any, where: str, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise bad_request(f"faults: '{where}' must be a number")
    if raw < minimum or (maximum is not None and raw > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise bad_request(f"faults: '{where}' must be {bound}")
    return float(raw)


def parse_faults(raw: Any) -> FaultSet:
    """The fault set of a `POST /_emulator/faults` body (400 naming the bad key)."""
    if not isinstance(raw, dict):
        raise bad_request("faults: body must be a JSON object")
    known = {"rate_limit", "errors", "latency_ms", "session_ttl_s", "reset_probability", "down", "seed"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise bad_request(f"faults: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    out = FaultSet(raw=raw)
    if raw.get("rate_limit") is not None:
        limit = raw["rate_limit"]
        if not isinstance(limit, dict):
            raise bad_request("faults: 'rate_limit' must be {\"rate\": N, \"burst\": N}")
        out.rate = _number(limit.get("rate"), "rate_limit.rate")
        out.burst = _number(limit.get("burst", out.rate), "rate_limit.burst", minimum=1)
    for i, rule in enumerate(raw.get("errors") or []):
        where = f"errors[{i}]"
        if not isinstance(rule, dict) or "status" not in rule:
            raise bad_request(f"faults: '{where}' must be an object with at least 'status'")
        count = rule.get("count")
        out.errors.append(ErrorRule(
            method=str(rule["method"]).upper() if rule.get("method") not in (None, "*") else None,
            path=str(rule.get("path", "/")),
            status=int(_number(rule["status"], f"{where}.status", minimum=100, maximum=599)),
            probability=_number(rule.get("probability", 1.0), f"{where}.probability", maximum=1.0),
            count=None if count is None else int(_number(count, f"{where}.count")),
            body_contains=str(rule.get("body_contains") or ""),
            message=str(rule.get("message") or ""),
        ))
    latency = raw.get("latency_ms") or {}
    if not isinstance(latency, dict):
        raise bad_request("faults: 'latency_ms' must be {\"write\": ms, \"read\": ms}")
    out.latency_write_ms = _number(latency.get("write", 0), "latency_ms.write")
    out.latency_read_ms = _number(latency.get("read", 0), "latency_ms.read")
    if raw.get("session_ttl_s") is not None:
        out.session_ttl_s = _number(raw["session_ttl_s"], "session_ttl_s")
    out.reset_probability = _number(raw.get("reset_probability", 0), "reset_probability", maximum=1.0)
    if not isinstance(raw.get("down", False), bool):
        raise bad_request("faults: 'down' must be true or false")
    out.down = bool(raw.get("down", False))
    if raw.get("seed") is not None:
        out.seed = int(_number(raw["seed"], "seed"))
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one request: nothing, wait, drop, or answer with `status`."""

    status: int | None = None
    message: str = ""
    retry_after: int | None = None
    drop: bool = False
    delay_s: float = 0.0


class Faults:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.current = FaultSet()
        self._buckets: dict[str, TokenBucket] = {}
        self._random = random.Random()

    def set(self, raw: Any) -> FaultSet:
        self.current = parse_faults(raw)
        self._buckets.clear()
        self._random = random.Random(self.current.seed)
        return self.current

    def clear(self) -> None:
        self.set({})

    def wants_body(self, method: str) -> bool:
        """Whether `decide` needs the request's body (a rule matches on its content)."""
        return method in WRITE_METHODS and any(r.body_contains and r.count != 0 for r in self.current.errors)

    def decide(self, *, method: str, path: str, client: str, body: str | None = None) -> Verdict:
        fs = self.current
        if fs.down:
            return Verdict(status=503, message="Controller is not available (emulated outage)")
        if fs.rate is not None and fs.burst is not None:
            bucket = self._buckets.get(client)
            now = self.clock()
            if bucket is None:
                bucket = self._buckets[client] = TokenBucket(fs.rate, fs.burst, fs.burst, now)
            wait = bucket.take(now)
            if wait > 0:
                return Verdict(status=429, message="Too many requests",
                               retry_after=max(1, math.ceil(wait)))
        if fs.reset_probability and self._random.random() < fs.reset_probability:
            return Verdict(drop=True)
        for rule in fs.errors:
            if rule.count == 0 or not rule.matches(method, path, body):
                continue
            if self._random.random() < rule.probability:
                if rule.count is not None:
                    rule.count -= 1
                return Verdict(status=rule.status, message=rule.message or f"Injected fault: HTTP {rule.status}")
        latency = fs.latency_write_ms if method in WRITE_METHODS else fs.latency_read_ms
        return Verdict(delay_s=latency / 1000.0)

    def describe(self) -> dict[str, Any]:
        fs = self.current
        return {**fs.raw, "errors": [
            {"method": r.method, "path": r.path, "status": r.status, "probability": r.probability,
             "count": r.count, **({"body_contains": r.body_contains} if r.body_contains else {}),
             **({"message": r.message} if r.message else {})} for r in fs.errors]}
