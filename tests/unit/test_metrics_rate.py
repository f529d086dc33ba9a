"""The pace of calls in /metrics: the configured and effective rates, and the 429s."""

from __future__ import annotations

from prometheus_client import generate_latest

from akod.avi import Pacer
from akod.sync.metrics import Telemetry


def _metric(text: str, name: str) -> float:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"{name} ")]
    return float(line.split()[1])


def test_a_429_shows_as_a_lower_effective_rate_and_one_more_throttled_call() -> None:
    telemetry = Telemetry()
    pacer = Pacer(rate=20, burst=40, workers=8)
    telemetry.follow_pacer(pacer)
    before = generate_latest(telemetry.registry).decode()
    assert _metric(before, "akod_avi_rate_configured") == 20
    assert _metric(before, "akod_avi_rate_effective") == 20
    assert _metric(before, "akod_avi_throttled_total") == 0

    pacer.note_429()
    telemetry.on_call(method="POST", obj_type="pool", status=429, elapsed_s=0.01)
    telemetry.on_call(method="POST", obj_type="pool", status=201, elapsed_s=0.01)
    after = generate_latest(telemetry.registry).decode()
    assert _metric(after, "akod_avi_rate_effective") == 10
    assert _metric(after, "akod_avi_rate_configured") == 20
    assert _metric(after, "akod_avi_throttled_total") == 1
