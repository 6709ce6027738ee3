"""`sre slo explain`: error budget in time and events, alert tiers and detection times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerting.explain import budget_events, budget_seconds, explain, tier_detection
from alerting.model import SLO, Alert, Alerting, EventsSLI, frozen_map
from sre_platform.cli.slo import app
from sre_platform.durations import parse_duration

DAY = 86400


def make_slo(
    objective: float, period: str = "30d", *, page: bool = True, ticket: bool = True
) -> SLO:
    """An events SLO with the given objective, period and enabled alerts."""
    return SLO(
        service="svc",
        name="availability",
        objective=objective,
        description="",
        labels=frozen_map(),
        sli=EventsSLI("sum(rate(e[{{.window}}]))", "sum(rate(t[{{.window}}]))"),
        alerting=Alerting(
            name="SvcAvailability",
            labels=frozen_map(),
            annotations=frozen_map(),
            page=Alert(disabled=not page),
            ticket=Alert(disabled=not ticket),
        ),
        period_seconds=parse_duration(period),
        source="spec.yaml",
    )


@pytest.mark.parametrize(
    ("long_window", "factor", "burn", "expected"),
    [
        pytest.param(3600, 14.4, 1000, 51.84, id="a total outage at 99.9% trips 1h x 14.4 in 52s"),
        pytest.param(21600, 6, 10, 12960, id="a 10x burn trips the 6h x 6 tier in 3h36m"),
        pytest.param(259200, 1, 1, 259200, id="a 1x burn trips the 3d x 1 tier after 3 days"),
        pytest.param(3600, 14.4, 10, None, id="a burn below the factor never trips the tier"),
        pytest.param(3600, 14.4, 0, None, id="no burn never trips anything"),
    ],
)
def test_tier_detection(
    long_window: int, factor: float, burn: float, expected: float | None
) -> None:
    result = tier_detection(long_window, factor, burn)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("period", "budget", "rate", "seconds", "events"),
    [
        pytest.param(30 * DAY, 0.001, 100, 2592, 259_200, id="99.9% over 30d is 43m12s"),
        pytest.param(28 * DAY, 0.01, 10, 24192, 241_920, id="99% over 28d is 6h43m12s"),
        pytest.param(7 * DAY, 0.05, 1, 30240, 30_240, id="95% over 7d is 8h24m"),
    ],
)
def test_budget_in_time_and_events(
    period: int, budget: float, rate: float, seconds: float, events: float
) -> None:
    assert budget_seconds(period, budget) == pytest.approx(seconds)
    assert budget_events(period, budget, rate) == pytest.approx(events)


NEVER = (None, None)


@pytest.mark.parametrize(
    ("slo", "outage", "ten", "two", "one"),
    [
        pytest.param(
            make_slo(99.9),
            (51.84, "page quick"),
            (12960, "page slow"),
            (129600, "ticket slow"),
            (259200, "ticket slow"),
            id="99.9% over 30d pages on a total outage in about 52s via the quick tier",
        ),
        pytest.param(
            make_slo(99),
            (518.4, "page quick"),
            (12960, "page slow"),
            (129600, "ticket slow"),
            (259200, "ticket slow"),
            id="99% over 30d pages on a total outage in 8m38s",
        ),
        pytest.param(
            make_slo(95),
            (2592, "page quick"),
            (12960, "page slow"),
            (129600, "ticket slow"),
            (259200, "ticket slow"),
            id="95% over 30d pages on a total outage in 43m12s",
        ),
        pytest.param(
            make_slo(90),
            (12960, "page slow"),
            (12960, "page slow"),
            (129600, "ticket slow"),
            (259200, "ticket slow"),
            id="90% over 30d cannot use the quick page tier so the slow one detects the outage",
        ),
        pytest.param(
            make_slo(80),
            (51840, "ticket quick"),
            NEVER,
            (129600, "ticket slow"),
            (259200, "ticket slow"),
            id="80% over 30d cannot page at all and cannot burn 10x (that is 200% errors)",
        ),
        pytest.param(
            make_slo(99.9, page=False),
            (259.2, "ticket quick"),
            (25920, "ticket quick"),
            (129600, "ticket slow"),
            (259200, "ticket slow"),
            id="without a page the ticket tiers detect everything",
        ),
        pytest.param(
            make_slo(99.9, page=False, ticket=False),
            NEVER,
            NEVER,
            NEVER,
            NEVER,
            id="with both alerts disabled nothing is ever detected",
        ),
        pytest.param(
            make_slo(100),
            (0, "page quick"),
            NEVER,
            NEVER,
            NEVER,
            id="a 100% objective pages on the first error and has no budget to burn",
        ),
        pytest.param(
            make_slo(99.5, "7d"),
            (60.48, "page quick"),
            (3024, "page slow"),
            (30240, "ticket slow"),
            (60480, "ticket slow"),
            id="99.5% over 7d pages on a total outage in about a minute",
        ),
        pytest.param(
            make_slo(99.9, "1d"),
            (1.728, "page quick"),
            (432, "page slow"),
            (4320, "ticket slow"),
            (8640, "ticket slow"),
            id="99.9% over 1d pages on a total outage within seconds",
        ),
    ],
)
def test_detection_times(
    slo: SLO,
    outage: tuple[float | None, str | None],
    ten: tuple[float | None, str | None],
    two: tuple[float | None, str | None],
    one: tuple[float | None, str | None],
) -> None:
    detections = explain(slo, rate=100).detections
    got = [(d.seconds, d.tier) for d in detections]
    for (seconds, tier), (want_seconds, want_tier) in zip(
        got, [outage, ten, two, one], strict=True
    ):
        assert tier == want_tier
        assert seconds == (None if want_seconds is None else pytest.approx(want_seconds))
    assert [d.burn_label for d in detections] == ["100% errors", "10x burn", "2x burn", "1x burn"]


def test_a_never_detection_says_why() -> None:
    detections = explain(make_slo(80), rate=1).detections
    assert "above 100%" in detections[1].reason
    disabled = explain(make_slo(99.9, page=False, ticket=False), rate=1).detections
    assert disabled[0].reason == "no alert tier can fire (disabled, or factor x budget >= 1)"
    ticket_only = explain(make_slo(99.9, page=False), rate=1).detections
    assert ticket_only[1].seconds is not None
    assert explain(make_slo(99.9, ticket=False), rate=1).detections[2].reason == (
        "below every live tier's factor"
    )


def test_tiers_carry_windows_factors_thresholds_and_shares() -> None:
    tiers = explain(make_slo(95), rate=1).tiers
    assert [(t.label, t.long_window, t.short_window, t.factor) for t in tiers] == [
        ("page quick", 3600, 300, 14.4),
        ("page slow", 21600, 1800, 6.0),
        ("ticket quick", 86400, 7200, 3.0),
        ("ticket slow", 259200, 21600, 1.0),
    ]
    assert [t.threshold for t in tiers] == pytest.approx([0.72, 0.3, 0.15, 0.05])
    assert [t.budget_share for t in tiers] == [0.02, 0.05, 0.1, 0.1]
    assert all(t.can_fire for t in tiers)


def test_a_tier_whose_threshold_reaches_100_percent_can_never_fire() -> None:
    tiers = explain(make_slo(90), rate=1).tiers
    assert [t.can_fire for t in tiers] == [False, True, True, True]
    assert tiers[0].enabled


def test_a_disabled_alert_disables_its_tiers() -> None:
    tiers = explain(make_slo(99.9, ticket=False), rate=1).tiers
    assert [(t.enabled, t.can_fire) for t in tiers] == [
        (True, True),
        (True, True),
        (False, False),
        (False, False),
    ]


runner = CliRunner()


def test_explain_prints_budget_tiers_and_detection_tables() -> None:
    result = runner.invoke(
        app, ["explain", "-i", "slo_specs/exchange.yaml", "--rate", "100"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "exchange-order-api-availability" in result.output
    assert "43m 12s" in result.output
    assert "259,200 failed events at 100/s" in result.output
    assert "52s" in result.output
    assert "page quick" in result.output


def test_explain_json_is_machine_readable() -> None:
    result = runner.invoke(
        app, ["explain", "-i", "slo_specs/exchange.yaml", "--rate", "10", "--json"]
    )
    assert result.exit_code == 0, result.output
    slos = {item["slo"]: item for item in json.loads(result.output)["slos"]}
    availability = slos["exchange-order-api-availability"]
    assert availability["budget"] == {
        "seconds": 2592.0,
        "time": "43m 12s",
        "rate_per_second": 10.0,
        "events": 25920.0,
    }
    assert availability["detection"][0]["tier"] == "page quick"
    assert availability["detection"][0]["seconds"] == pytest.approx(51.84)
    assert [t["tier"] for t in availability["tiers"]] == [
        "page quick",
        "page slow",
        "ticket quick",
        "ticket slow",
    ]


def test_explain_honours_the_period_option() -> None:
    result = runner.invoke(
        app, ["explain", "-i", "slo_specs/exchange.yaml", "--period", "7d", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert {item["period"] for item in json.loads(result.output)["slos"]} == {"1w"}


def test_explain_reports_spec_problems_instead_of_explaining(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: prometheus/v1\nservice: x\nslos: []\n", encoding="utf-8")
    result = runner.invoke(app, ["explain", "-i", str(bad)])
    assert result.exit_code != 0
