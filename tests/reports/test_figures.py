"""The report's figures as pure functions: step grid, attainment, budget, burn-down, incidents."""

from __future__ import annotations

import pytest

from reports.figures import (
    Incident,
    Step,
    budget_share,
    burndown,
    choose_step,
    grid_for,
    incidents,
    sli,
)

DAY = 86400


@pytest.mark.parametrize(
    ("span", "step"),
    [
        pytest.param(DAY, 120, id="a day is read every 2 minutes (720 points)"),
        pytest.param(7 * DAY, 900, id="a week every 15 minutes (672 points)"),
        pytest.param(30 * DAY, 3600, id="30 days every hour (720 points)"),
        pytest.param(90 * DAY, 10800, id="90 days every 3 hours (720 points)"),
        pytest.param(600, 60, id="ten minutes every minute"),
    ],
)
def test_step_keeps_every_series_under_1000_points(span: int, step: int) -> None:
    assert choose_step(span) == step
    grid = grid_for(1_000_000 - span, 1_000_000)
    assert grid.count <= 1000
    assert grid.first <= 1_000_000 - span
    assert grid.times()[-1] == 1_000_000


def test_a_span_longer_than_1000_days_is_refused() -> None:
    with pytest.raises(ValueError, match="1000"):
        choose_step(1001 * DAY)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([Step(0, 0.0, 60)], 1.0, id="no errors is an SLI of 100%"),
        pytest.param([Step(0, 0.06, 60)], 0.999, id="0.1% mean error is 99.9%"),
        pytest.param(
            [Step(0, 0.6, 60), Step(60, 0.0, 0)], 0.99, id="a step without traffic is left out"
        ),
        pytest.param([Step(0, 0.0, 0), Step(60)], None, id="no sample at all is no traffic"),
        pytest.param([], None, id="no step at all is no traffic"),
    ],
)
def test_sli_is_one_minus_the_mean_error_ratio(steps: list[Step], expected: float | None) -> None:
    assert sli(steps) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("integral", "budget", "period", "share"),
    [
        pytest.param(
            2592.0, 0.001, 30 * DAY, 1.0, id="43m12s of full outage is a 99.9% month's budget"
        ),
        pytest.param(
            0.05 * 7200, 0.001, 7 * DAY, 0.5952, id="2h at 5% errors costs 59.5% of a 99.9% week"
        ),
        pytest.param(0.0, 0.01, DAY, 0.0, id="no errors cost nothing"),
        pytest.param(1728.0, 0.01, DAY, 2.0, id="twice the budget is 200% (overspent)"),
    ],
)
def test_budget_share(integral: float, budget: float, period: int, share: float) -> None:
    assert budget_share(integral, budget, period) == pytest.approx(share, rel=1e-3)


@pytest.mark.parametrize(
    ("budget", "period"),
    [
        pytest.param(0.0, DAY, id="a 100% objective has no budget"),
        pytest.param(0.001, 0, id="no period"),
    ],
)
def test_budget_share_refuses_an_empty_budget(budget: float, period: int) -> None:
    with pytest.raises(ValueError):
        budget_share(1.0, budget, period)


def test_burndown_starts_at_the_first_data_and_goes_below_zero_when_overspent() -> None:
    # 99% over 6000 s: the budget is 60 s of full outage; each sample stands for 60 s.
    steps = [Step(60), Step(120, 0.25, 1), Step(180, 0.0, 1), Step(240, 0.75, 1), Step(300, 1.0, 1)]
    remaining = burndown(steps, 0.01, 6000)
    assert remaining[0] is None
    assert remaining[1:] == pytest.approx([0.75, 0.75, 0.0, -1.0])


def firing(t: float, first: float, last: float) -> Step:
    return Step(t, first_firing=first, last_firing=last)


# Grid of 100 s steps; step 0 (t=100) lies before the window, which starts at 100.
WINDOW_START = 100


@pytest.mark.parametrize(
    ("steps", "firing_at_end", "expected"),
    [
        pytest.param(
            [Step(100), firing(200, 130, 200), firing(300, 200, 250), Step(400)],
            False,
            [Incident(130, 250)],
            id="a page across two steps is one incident, start and end from the samples",
        ),
        pytest.param(
            [Step(100), firing(200, 110, 120), Step(300), firing(400, 350, 390)],
            False,
            [Incident(110, 120), Incident(350, 390)],
            id="two pages with a quiet step between are two incidents",
        ),
        pytest.param(
            [Step(100), firing(200, 110, 120), firing(300, 280, 290), Step(400)],
            False,
            [Incident(110, 120), Incident(280, 290)],
            id="adjacent steps with a gap over 150 s between samples are two incidents",
        ),
        pytest.param(
            [Step(100), Step(200), firing(300, 250, 300), firing(400, 300, 400)],
            True,
            [Incident(250, None)],
            id="a page firing at the end is ongoing",
        ),
        pytest.param(
            [Step(100), Step(200), firing(300, 250, 300), firing(400, 300, 340)],
            False,
            [Incident(250, 340)],
            id="a page in the last step that no longer fires at the end has ended",
        ),
        pytest.param(
            [firing(100, 40, 100), firing(200, 100, 150), Step(300), Step(400)],
            False,
            [Incident(40, 150, began_before_window=True)],
            id="a page already firing when the window began started before it",
        ),
        pytest.param(
            [firing(100, 20, 60), Step(200), Step(300), Step(400)],
            False,
            [],
            id="a page that ended before the window is left out",
        ),
        pytest.param(
            [
                firing(100, 20, 100),
                firing(200, 100, 400),
                firing(300, 200, 300),
                firing(400, 300, 400),
            ],
            True,
            [Incident(20, None, began_before_window=True)],
            id="a page firing through the whole window is one ongoing incident that began before it",
        ),
        pytest.param([Step(100), Step(200)], True, [], id="no page, no incident"),
    ],
)
def test_incidents_from_alert_samples(
    steps: list[Step], firing_at_end: bool, expected: list[Incident]
) -> None:
    assert incidents(steps, WINDOW_START, firing_at_end) == expected


@pytest.mark.parametrize(
    ("incident", "clipped"),
    [
        pytest.param(Incident(150, 250), (150, 250), id="inside the window, as is"),
        pytest.param(
            Incident(40, 150, True), (100, 150), id="started before: from the window start"
        ),
        pytest.param(Incident(350, None), (350, 400), id="ongoing: to the window end"),
    ],
)
def test_incident_clipped_to_the_window(incident: Incident, clipped: tuple[int, int]) -> None:
    assert incident.clipped(100, 400) == clipped
