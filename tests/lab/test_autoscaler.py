"""The autoscaler's target-tracking decisions (lab.autoscaler.decide), as a table."""

from __future__ import annotations

import pytest

from lab.autoscaler import (
    SCALE_IN,
    SCALE_OUT,
    Sample,
    ScaleActivity,
    ScaleDecision,
    ScalerState,
    TargetTracking,
    decide,
    now_utc,
    observe,
)

POLICY = TargetTracking(
    target=6, minimum=3, maximum=6, scale_out_cooldown=15, scale_in_cooldown=30, scale_in_after=30
)


def _state(*samples: tuple[float, int, float], out: float | None = None, inn: float | None = None):
    return ScalerState(out, inn, [Sample(t, n, m) for t, n, m in samples])


# (sentence id, state, sample (time, replicas, metric), desired, direction)
CASES = [
    ("at the target nothing changes", _state(), (100, 3, 6.0), 3, None),
    ("within the tolerance nothing changes", _state(), (100, 3, 6.5), 3, None),
    ("overload scales out in proportion", _state(), (100, 3, 8.3), 5, SCALE_OUT),
    ("a deep overload stops at the maximum", _state(), (100, 3, 40.0), 6, SCALE_OUT),
    ("at the maximum there is nothing to add", _state(), (100, 6, 20.0), 6, None),
    ("scale-out waits for its cooldown", _state(out=90), (100, 4, 9.0), 4, None),
    ("after the cooldown it scales out again", _state(out=80), (100, 4, 9.0), 6, SCALE_OUT),
    (
        "below the target but not for long: no scale-in",
        _state((80, 6, 1.0)),
        (100, 6, 1.0),
        6,
        None,
    ),
    (
        "below the target for the whole window: one replica less",
        _state((60, 6, 1.5), (80, 6, 1.0)),
        (100, 6, 1.0),
        5,
        SCALE_IN,
    ),
    (
        "scale-in waits for its cooldown after any scaling",
        _state((60, 6, 1.0), out=80),
        (100, 6, 1.0),
        6,
        None,
    ),
    (
        "no scale-in when one replica less would exceed the target",
        _state((60, 4, 4.0), (75, 4, 4.9), (80, 4, 4.0)),
        (100, 4, 4.0),
        4,
        None,
    ),
    (
        "samples taken with another replica count do not count for scale-in",
        _state((60, 5, 1.0), (80, 6, 1.0)),
        (100, 6, 1.0),
        6,
        None,
    ),
    (
        "a peak older than the scale-in window does not hold replicas forever",
        _state((0, 6, 5.3), (60, 6, 1.0), (80, 6, 1.0)),
        (100, 6, 1.0),
        5,
        SCALE_IN,
    ),
    (
        "a window only partly below the target is not long enough",
        _state((75, 6, 1.0), (80, 6, 1.0)),
        (100, 6, 1.0),
        6,
        None,
    ),
    ("never below the minimum", _state((0, 3, 0.0)), (100, 3, 0.0), 3, None),
    ("below the minimum it scales out to it", _state(), (100, 2, 0.0), 3, SCALE_OUT),
    ("above the maximum it scales in to it", _state(), (100, 8, 0.0), 6, SCALE_IN),
]


@pytest.mark.parametrize(
    ("state", "sample", "desired", "direction"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(state, sample, desired, direction) -> None:
    decision = decide(POLICY, state, Sample(*sample))
    assert (decision.desired, decision.direction) == (desired, direction), decision.reason


def test_observe_forgets_the_window_after_a_change() -> None:
    state = _state((60, 6, 1.0), (80, 6, 1.0))
    sample = Sample(100, 6, 1.0)
    observe(state, sample, ScaleDecision(5, SCALE_IN, "x"))
    assert state.samples == [] and state.last_scale_in == 100
    observe(state, Sample(101, 5, 1.0), ScaleDecision(5, None, "x"))
    assert [s.time for s in state.samples] == [101]


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="minimum"):
        TargetTracking(minimum=4, maximum=3)


def test_activity_record_has_the_engine_record_keys() -> None:
    record = ScaleActivity(now_utc(), "exchange", 3, ScaleDecision(5, SCALE_OUT, "why"), 8.3, 6)
    keys = {"time", "outcome", "reason", "detail", "rule", "action", "service", "target"}
    keys |= {"desired", "replica", "result", "alert"}
    data = record.as_record()
    assert keys <= set(data)
    assert data["outcome"] == "acted" and data["result"]["after"] == 5
    failed = ScaleActivity(now_utc(), "exchange", 3, ScaleDecision(5, SCALE_OUT, "w"), 8, 6, "boom")
    assert failed.as_record()["outcome"] == "failed"
