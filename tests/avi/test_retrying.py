"""The backoff policy on its own: full jitter under a doubling, capped ceiling; a deadline."""

from __future__ import annotations

import email.utils
import pickle

import pytest

from akod.avi import AviConflict, AviUnavailable, RetryPolicy
from akod.avi.retrying import is_retryable_status, parse_retry_after


def _ceiling(low: float, high: float) -> float:
    return high


def test_waits_double_up_to_the_cap_then_give_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=6, base_s=0.2, cap_s=1.0, deadline_s=100, rng=_ceiling)
    retry = policy.start(now=0.0)
    waits = [retry.backoff(now=0.0) for _ in range(6)]
    assert waits == [0.2, 0.4, 0.8, 1.0, 1.0, None]


def test_waits_are_drawn_from_zero_to_the_ceiling() -> None:
    seen: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        seen.append((low, high))
        return low

    retry = RetryPolicy(base_s=0.5, cap_s=10, rng=record).start(now=0.0)
    retry.backoff(now=0.0)
    retry.backoff(now=0.0)
    assert seen == [(0.0, 0.5), (0.0, 1.0)]


def test_retry_after_is_a_lower_bound_with_the_jitter_on_top() -> None:
    retry = RetryPolicy(base_s=0.1, cap_s=1, rng=_ceiling).start(now=0.0)
    assert retry.backoff(now=0.0, retry_after=3.0) == pytest.approx(3.1)
    assert retry.backoff(now=0.0, retry_after=3.0) == pytest.approx(3.2)


def test_calls_told_the_same_retry_after_come_back_spread_out() -> None:
    waits = [RetryPolicy(base_s=0.2).start(now=0.0).backoff(now=0.0, retry_after=1.0) for _ in range(50)]
    assert all(w is not None and 1.0 <= w <= 1.2 for w in waits)
    assert len({round(w or 0, 3) for w in waits}) > 10


def test_no_wait_may_cross_the_deadline() -> None:
    retry = RetryPolicy(max_attempts=100, base_s=1, cap_s=1, deadline_s=5, rng=_ceiling).start(
        now=10.0
    )
    assert retry.backoff(now=13.0) == 1.0
    assert retry.backoff(now=14.5) is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (409, False), (404, False)]
)
def test_which_statuses_are_retried(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_errors_survive_pickling_with_their_fields() -> None:
    error = AviConflict(status=409, message="exists", method="POST", path="/api/pool")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.status, copy.message, str(copy)) == (
        AviConflict,
        409,
        "exists",
        "POST /api/pool: 409: exists",
    )
    unavailable = AviUnavailable(status=None, message="down", method="GET", path="/api/x")
    assert str(pickle.loads(pickle.dumps(unavailable))) == "GET /api/x: no reply: down"
