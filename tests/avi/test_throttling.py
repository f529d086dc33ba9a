"""The AIMD of the pace on its own, on a clock the test moves: slower on 429, back up slowly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from akod.avi.throttling import AimdPolicy, Throttle


def _low(low: float, high: float) -> float:
    return low


def _high(low: float, high: float) -> float:
    return high


def throttle(configured: float, *, rng: Callable[[float, float], float] = _low) -> Throttle:
    """Quiet periods of exactly 2 s (no jitter) unless `rng` says otherwise."""
    return Throttle(configured=configured, rng=rng)


def test_a_429_halves_the_rate() -> None:
    t = throttle(30)
    assert t.rate(now=0.0) == 30 and not t.throttled(now=0.0)
    assert t.on_429(now=0.0) is True
    assert t.rate(now=0.0) == 15 and t.throttled(now=0.0)


def test_a_burst_of_429s_from_one_overload_is_one_decrease() -> None:
    t = throttle(30)
    decreased = [t.on_429(now=i * 0.1) for i in range(8)]
    assert decreased == [True] + [False] * 7
    assert t.rate(now=0.8) == 15
    assert (t.decreases, t.throttled_429s) == (1, 8)


def test_a_429_to_a_call_sent_before_the_last_decrease_does_not_lower_the_rate_again() -> None:
    t = throttle(30)
    t.on_429(now=0.0, sent_at=-0.05)
    assert t.on_429(now=1.5, sent_at=-0.01) is False  # a slow echo of the same overload
    assert t.rate(now=1.5) == 15
    assert t.rate(now=3.0) == pytest.approx(16.5)  # and it did not postpone the recovery either
    assert t.throttled_429s == 2


def test_an_overload_that_lasts_halves_the_rate_once_a_window_but_never_below_the_floor() -> None:
    t = throttle(30)
    for second in range(10):
        t.on_429(now=float(second), sent_at=second - 0.01)
    assert t.rate(now=9.0) == 1.0
    assert t.decreases == 10


def test_the_rate_recovers_after_a_quiet_period_slowly_and_never_above_the_configured_rate() -> None:
    t = throttle(30)
    t.on_429(now=0.0)
    assert t.rate(now=1.99) == 15  # quiet: no 429 for 2 s yet
    assert t.rate(now=3.0) == pytest.approx(16.5)  # +5 % of 30 per second
    assert t.rate(now=7.0) == pytest.approx(22.5)
    assert t.rate(now=12.0) == 30 and not t.throttled(now=12.0)  # 10 s from half to full
    assert t.rate(now=100.0) == 30


def test_the_recovery_takes_at_least_one_call_per_second_per_second() -> None:
    t = throttle(10)
    t.on_429(now=0.0)
    assert t.rate(now=4.0) == pytest.approx(7.0)  # 5 % of 10 would be 0.5/s: too slow to matter


def test_the_quiet_period_is_jittered_so_two_daemons_do_not_speed_up_in_step() -> None:
    early, late = throttle(30, rng=_low), throttle(30, rng=_high)
    early.on_429(now=0.0)
    late.on_429(now=0.0)
    assert early.rate(now=2.5) > 15
    assert late.rate(now=2.5) == 15 and late.rate(now=3.0) == 15  # 2 s * 1.5
    assert late.rate(now=4.0) == pytest.approx(16.5)


def test_a_429_during_the_quiet_period_restarts_it_without_a_second_decrease() -> None:
    t = throttle(30)
    t.on_429(now=0.0)
    assert t.on_429(now=0.5) is False
    assert t.rate(now=2.4) == 15
    assert t.rate(now=3.5) == pytest.approx(16.5)


def test_a_429_while_recovering_halves_what_was_recovered() -> None:
    t = throttle(30)
    t.on_429(now=0.0)
    assert t.rate(now=6.0) == pytest.approx(21.0)
    assert t.on_429(now=6.0) is True
    assert t.rate(now=6.0) == pytest.approx(10.5)


def test_unlimited_slows_down_on_a_429_and_recovers_back_to_unlimited() -> None:
    t = throttle(0)
    assert t.rate(now=0.0) == 0  # 0 = unlimited
    t.on_429(now=0.0, sent_rate=100.0)
    assert t.rate(now=0.0) == 20  # half of what was sent, at most the safe default
    assert t.throttled(now=0.0)
    assert t.rate(now=4.0) == pytest.approx(30.0)  # towards what was sent: +5 % of 100 per second
    assert t.rate(now=18.0) == 0 and not t.throttled(now=18.0)


def test_unlimited_sending_little_halves_that_and_recovers_to_twice_the_default() -> None:
    t = throttle(0)
    t.on_429(now=0.0, sent_rate=6.0)
    assert t.rate(now=0.0) == 3.0
    assert t.ceiling() == 40.0
    assert t.rate(now=2.0 + 18.4) == pytest.approx(39.8)  # +2/s: 5 % of 40
    assert t.rate(now=2.0 + 18.5) == 0


def test_lowering_the_configured_rate_while_throttled_caps_the_rate_at_once() -> None:
    t = throttle(30)
    t.on_429(now=0.0)
    t.reconfigure(configured=10, now=1.0)
    assert t.rate(now=1.0) == 10 and not t.throttled(now=1.0)


def test_raising_the_configured_rate_while_throttled_keeps_the_throttle_and_recovers_to_it() -> None:
    t = throttle(30)
    t.on_429(now=0.0)
    t.reconfigure(configured=60, now=1.0)
    assert t.rate(now=1.0) == 15  # the controller is as busy as before the reload
    assert t.rate(now=3.0) == pytest.approx(18.0)  # +5 % of 60 per second, after the same quiet period
    t.reconfigure(configured=60, now=3.0)
    assert t.rate(now=4.0) == pytest.approx(21.0)
    assert t.rate(now=20.0) == 60


def test_making_the_rate_unlimited_while_throttled_recovers_to_unlimited() -> None:
    t = throttle(30)
    t.on_429(now=0.0)
    t.reconfigure(configured=0, now=0.5)
    assert t.rate(now=0.5) == 15 and t.ceiling() == 40
    assert t.rate(now=2.0 + 12.5) == 0


def test_a_policy_that_cannot_recover_is_refused() -> None:
    with pytest.raises(ValueError):
        AimdPolicy(recovery_per_s=0)
    with pytest.raises(ValueError):
        AimdPolicy(decrease_factor=1.0)
