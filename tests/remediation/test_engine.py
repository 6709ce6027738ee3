"""The engine's decisions, one per alert, and its guardrails under bursts (property-tested
with hypothesis over the lab's real file store)."""

from __future__ import annotations

import itertools
import tempfile
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediation.engine import Outcome, Reason, decide, remediate
from remediation.policy import parse_policy
from remediation.store import FileAuditLog, FileStateStore
from tests.remediation.helpers import T0, RecordingActuator, alert, later, policy, policy_data


@pytest.fixture
def store(tmp_path: Path) -> FileStateStore:
    return FileStateStore(tmp_path / "state.json")


CASES = [
    pytest.param(
        alert(status="resolved"),
        Outcome.SKIPPED,
        Reason.RESOLVED,
        id="a resolved alert is never acted upon",
    ),
    pytest.param(
        alert(ends=later(-1)),
        Outcome.SKIPPED,
        Reason.ENDED,
        id="an alert whose endsAt has passed is never acted upon",
    ),
    pytest.param(
        alert(sent=later(-6)),
        Outcome.SKIPPED,
        Reason.STALE,
        id="a notification sent longer ago than max_delivery_age is stale",
    ),
    pytest.param(
        alert(starts=later(-121)),
        Outcome.SKIPPED,
        Reason.TOO_OLD,
        id="an alert firing longer than max_alert_age is left to a human",
    ),
    pytest.param(
        alert("Unrelated"),
        Outcome.SKIPPED,
        Reason.NO_RULE,
        id="an alert no rule matches is recorded as such",
    ),
    pytest.param(
        alert(service=""),
        Outcome.SKIPPED,
        Reason.NO_SERVICE,
        id="an alert without a service label is not acted upon",
    ),
    pytest.param(
        alert(service="broker"),
        Outcome.SKIPPED,
        Reason.UNKNOWN_SERVICE,
        id="an alert of a service the policy does not list is not acted upon",
    ),
    pytest.param(
        alert(sent=later(-4), ends=later(3)),
        Outcome.ACTED,
        Reason.ACTED,
        id="a fresh firing alert acts",
    ),
    pytest.param(
        alert("Stuck", replica="2"),
        Outcome.ACTED,
        Reason.ACTED,
        id="a regex matcher selects its rule",
    ),
]


@pytest.mark.parametrize(("the_alert", "outcome", "reason"), CASES)
def test_each_alert_gets_one_decision(
    store: FileStateStore, tmp_path: Path, the_alert, outcome, reason
) -> None:
    audit = FileAuditLog(tmp_path / "audit.jsonl")
    (decision,) = remediate([the_alert], policy(), store, RecordingActuator(), audit, T0)
    assert (decision.outcome, decision.reason) == (outcome, reason), decision.detail
    (record,) = audit.records()
    assert record["outcome"] == str(outcome) and record["reason"] == str(reason)
    assert (
        record["alert"]["fingerprint"] == the_alert.fingerprint and record["time"] == T0.isoformat()
    )


def test_scaling_stays_within_the_policys_and_the_platforms_bounds(
    store: FileStateStore, tmp_path: Path
) -> None:
    audit = FileAuditLog(tmp_path / "audit.jsonl")
    fleet = RecordingActuator(desired=5, maximum=6)
    p = policy(cooldown="1s", max_actions=100)
    outcomes = []
    for minute in range(4):
        (d,) = remediate(
            [alert(fingerprint=f"f{minute}", starts=later(minute))],
            p,
            store,
            fleet,
            audit,
            later(minute),
        )
        outcomes.append((d.reason, fleet.desired))
    assert outcomes == [
        (Reason.ACTED, 6),
        (Reason.AT_BOUND, 6),
        (Reason.AT_BOUND, 6),
        (Reason.AT_BOUND, 6),
    ]
    fleet = RecordingActuator(desired=3, minimum=3)
    (d,) = remediate([alert("Idle", fingerprint="idle")], p, store, fleet, audit, T0)
    assert d.reason == Reason.AT_BOUND and "bounds 3..6" in d.detail  # the group's own minimum


def test_the_actions_reach_the_actuator_with_their_parameters(
    store: FileStateStore, tmp_path: Path
) -> None:
    fleet = RecordingActuator()
    alerts = [
        alert("Latency", fingerprint="a"),
        alert("Errors", fingerprint="b"),
        alert("Hung", fingerprint="c", replica="2"),
        alert("Login", fingerprint="d"),
    ]
    p = policy(max_actions=10)
    decisions = remediate(alerts, p, store, fleet, FileAuditLog(tmp_path / "a.jsonl"), T0)
    assert [d.outcome for d in decisions] == [Outcome.ACTED] * 4
    assert sorted(fleet.calls) == sorted(
        [
            ("scale_to", "exchange", 4),
            ("rollback", "exchange"),
            ("restart_one", "exchange", "2"),
            ("shed_load", "exchange", 0.2, 300),
        ]
    )


def test_dry_run_decides_and_audits_but_never_acts(store: FileStateStore, tmp_path: Path) -> None:
    audit = FileAuditLog(tmp_path / "audit.jsonl")
    fleet = RecordingActuator()
    data = policy_data()
    data["dry_run"] = True
    dry = parse_policy(data, "dry.yaml")
    decisions = remediate(
        [alert(fingerprint=str(i)) for i in range(5)], dry, store, fleet, audit, T0
    )
    assert fleet.calls == []
    assert [d.reason for d in decisions] == [
        Reason.DRY_RUN,
        Reason.COOLDOWN,
        Reason.COOLDOWN,
        Reason.COOLDOWN,
        Reason.COOLDOWN,
    ]
    # A rehearsal keeps its own history: the live policy still has its whole budget.
    (live,) = remediate([alert(fingerprint="live")], policy(), store, fleet, audit, T0)
    assert live.outcome == Outcome.ACTED and fleet.calls == [("scale_to", "exchange", 4)]


def test_a_rule_can_be_dry_run_alone(store: FileStateStore, tmp_path: Path) -> None:
    data = policy_data()
    data["rules"][2]["dry_run"] = True
    fleet = RecordingActuator()
    decisions = remediate(
        [alert("Errors", fingerprint="e"), alert("Latency", fingerprint="l")],
        parse_policy(data, "p"),
        store,
        fleet,
        FileAuditLog(tmp_path / "a"),
        T0,
    )
    assert [(d.rule, d.outcome) for d in decisions] == [
        ("errors-rollback", Outcome.DRY_RUN),
        ("latency-scale-out", Outcome.ACTED),
    ]
    assert fleet.calls == [("scale_to", "exchange", 4)]


def test_a_failing_actuator_is_audited_as_failed(store: FileStateStore, tmp_path: Path) -> None:
    class Broken(RecordingActuator):
        def rollback(self, service: str):
            raise RuntimeError("AccessDenied")

    audit = FileAuditLog(tmp_path / "audit.jsonl")
    (d,) = remediate([alert("Errors")], policy(), store, Broken(), audit, T0)
    assert (d.outcome, d.reason) == (Outcome.FAILED, Reason.ERROR) and "AccessDenied" in d.detail
    assert audit.records()[0]["outcome"] == "failed"


def test_unsupported_actions_are_skipped_without_spending_budget(
    store: FileStateStore, tmp_path: Path
) -> None:
    class NoShedding(RecordingActuator):
        def supports(self, action: str) -> bool:
            return action != "shed_load"

    (d,) = remediate(
        [alert("Login")], policy(), store, NoShedding(), FileAuditLog(tmp_path / "a"), T0
    )
    assert d.reason == Reason.UNSUPPORTED
    assert store.history("live/exchange").actions == ()


def test_decide_alone_acts_on_nothing(store: FileStateStore) -> None:
    fleet = RecordingActuator()
    (d,) = decide([alert()], policy(), store, fleet, T0)
    assert d.outcome == Outcome.ACT and fleet.calls == []


# --- guardrails under bursts ------------------------------------------------------------------

SERVICES = ("exchange", "broker")
NAMES = ("Latency", "Idle", "Errors", "Hung", "Login")
delivery = st.tuples(
    st.integers(0, 180),  # minute of the delivery
    st.sampled_from(SERVICES),
    st.sampled_from(NAMES),
    st.integers(0, 5),  # which alert of that name (its fingerprint)
    st.integers(0, 30),  # how many minutes before the delivery it started
    st.sampled_from(["firing", "firing", "firing", "resolved"]),
    st.integers(-2, 8),  # minutes the notification spent in transit (stale above 5)
)


def _guarded_policy(max_actions: int, window: int, cooldown: int):
    data = policy_data(max_actions=max_actions, window=f"{window}m", cooldown=f"{cooldown}m")
    data["services"]["broker"] = {"min_replicas": 1, "max_replicas": 4}
    return parse_policy(data, "burst.yaml")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deliveries=st.lists(delivery, min_size=1, max_size=60),
    max_actions=st.integers(1, 4),
    window=st.integers(1, 60),
    cooldown=st.integers(1, 20),
    repeats=st.integers(1, 3),
)
def test_guardrails_hold_under_any_burst(
    deliveries, max_actions, window, cooldown, repeats
) -> None:
    """Whatever arrives, and however often: never more than max_actions per service within any
    window, never the same action on a service within its cooldown, one action per alert
    occurrence and rule, and nothing resolved, ended or stale acted upon."""
    p = _guarded_policy(max_actions, window, cooldown)
    fleet = RecordingActuator(desired=3, maximum=100)
    with tempfile.TemporaryDirectory() as folder:
        store = FileStateStore(Path(folder) / "state.json")
        audit = FileAuditLog(Path(folder) / "audit.jsonl")
        delivered = 0
        for minute, service, name, which, age, status, transit in sorted(deliveries):
            now = later(minute)
            one = alert(
                name,
                fingerprint=f"{service}-{name}-{which}",
                service=service,
                starts=now - timedelta(minutes=age) - timedelta(minutes=which * 7),
                status=status,
                sent=now - timedelta(minutes=transit) if transit >= 0 else None,
            )
            # Alertmanager (and SNS, at least once) may deliver the same notification again.
            for _ in range(repeats):
                remediate([one], p, store, fleet, audit, now)
                delivered += 1
        records = audit.records()
    assert len(records) == delivered
    acted = [r for r in records if r["outcome"] == "acted"]
    times = defaultdict(list)
    by_action = defaultdict(list)
    occurrences = set()
    for r in acted:
        when = T0.fromisoformat(r["time"]).timestamp()
        times[r["service"]].append(when)
        by_action[(r["service"], r["action"]["type"])].append(when)
        occurrence = (r["alert"]["fingerprint"], r["alert"]["starts_at"], r["rule"])
        assert occurrence not in occurrences, f"acted twice on {occurrence}"
        occurrences.add(occurrence)
        assert r["alert"]["status"] == "firing"
        sent = r["alert"]["sent_at"]
        assert sent is None or when - T0.fromisoformat(sent).timestamp() <= 300
    for service, stamps in times.items():
        for start in stamps:
            inside = [t for t in stamps if start <= t < start + window * 60]
            assert len(inside) <= max_actions, (service, start, inside)
    for stamps in by_action.values():
        assert all(b - a >= cooldown * 60 for a, b in itertools.pairwise(stamps))


def test_a_repeated_webhook_acts_once_and_says_why_the_rest_were_skipped(
    store: FileStateStore, tmp_path: Path
) -> None:
    audit = FileAuditLog(tmp_path / "audit.jsonl")
    fleet = RecordingActuator()
    one = alert()
    reasons = [
        remediate([one], policy(), store, fleet, audit, later(m))[0].reason for m in (0, 1, 10, 40)
    ]
    assert reasons == [Reason.ACTED, Reason.DUPLICATE, Reason.DUPLICATE, Reason.DUPLICATE]
    assert fleet.calls == [("scale_to", "exchange", 4)]
    # The same alert firing again (a new startsAt) is a new occurrence.
    (again,) = remediate(
        [replace(one, starts_at=later(41))], policy(), store, fleet, audit, later(41)
    )
    assert again.reason == Reason.ACTED
