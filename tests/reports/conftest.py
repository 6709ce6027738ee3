"""A real Prometheus whose TSDB holds a known week of SLO history, for `sre slo report`.

The history is OpenMetrics text turned into TSDB blocks by `promtool tsdb create-blocks-from
openmetrics`, one sample a minute (timestamps on whole minutes), from 8 days before the test
session to 2 hours after it (so the report's end, a few minutes later, still has samples):

- shop/availability (99.9%, 7d): 0.02% errors, a page incident of exactly 2 h at 5% errors two
  days ago, and a second one of 2 h at 1% errors centred one day ago (it straddles the start of
  a 1d report window); a ticket and a pending page alert that must not count as incidents;
- shop/latency (99%, 7d): data only for the last 3 days (the report says so), 2% errors
  (missed), and a page firing at 20% errors since 30 minutes ago and still firing;
- shop/checkout (99.5%, 7d): no traffic: every error ratio is NaN (0/0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from alerting.names import (
    LABEL_ID,
    LABEL_SERVICE,
    LABEL_SEVERITY,
    LABEL_SLO,
    LABEL_WINDOW,
    OBJECTIVE,
    TIME_PERIOD_DAYS,
    sli_error_record,
)
from tests.budget.conftest import running_prometheus

DAY = 86400
MINUTE = 60


@dataclass(frozen=True)
class History:
    """What the backfilled SLOs hold, so tests can compute every expected figure."""

    now: int  # a whole minute, when the history was written
    start: int
    stop: int

    @property
    def incident_1(self) -> tuple[int, int]:
        begin = self.now - 2 * DAY
        return begin, begin + 2 * 3600

    @property
    def incident_2(self) -> tuple[int, int]:
        return self.now - DAY - 3600, self.now - DAY + 3600

    @property
    def latency_start(self) -> int:
        return self.now - 3 * DAY

    @property
    def latency_page_start(self) -> int:
        return self.now - 30 * MINUTE

    def availability_error(self, t: int) -> float:
        a, b = self.incident_1
        if a <= t <= b:
            return 0.05
        c, d = self.incident_2
        if c <= t <= d:
            return 0.01
        return 0.0002

    def latency_error(self, t: int) -> float | None:
        if t < self.latency_start:
            return None
        return 0.2 if t >= self.latency_page_start else 0.02

    def stamps(self, begin: int | None = None, end: int | None = None) -> range:
        return range(begin or self.start, (end or self.stop) + 1, MINUTE)


SLOS = {
    "availability": (0.999, 7),
    "latency": (0.99, 7),
    "checkout": (0.995, 7),
}


def _labels(slo: str, **extra: str) -> dict[str, str]:
    return {LABEL_ID: f"shop-{slo}", LABEL_SERVICE: "shop", LABEL_SLO: slo, "owner": "web", **extra}


def openmetrics(history: History) -> str:
    """The OpenMetrics text of ``history``."""
    lines: list[str] = []

    def family(name: str, series: list[tuple[dict[str, str], Callable[[int], float | None]]]):
        lines.append(f"# TYPE {name} gauge")
        for labels, value in series:
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            for t in history.stamps():
                v = value(t)
                if v is not None:
                    shown = "NaN" if math.isnan(v) else repr(v)
                    lines.append(f"{name}{{{text}}} {shown} {t}")

    family(
        OBJECTIVE,
        [(_labels(s), lambda t, o=o: o) for s, (o, _) in SLOS.items() if s != "latency"]
        + [(_labels("latency"), lambda t: 0.99 if t >= history.latency_start else None)],
    )
    family(TIME_PERIOD_DAYS, [(_labels(s), lambda t, d=d: float(d)) for s, (_, d) in SLOS.items()])
    window = {LABEL_WINDOW: "5m"}
    family(
        sli_error_record("5m"),
        [
            (_labels("availability", **window), history.availability_error),
            (_labels("latency", **window), history.latency_error),
            (_labels("checkout", **window), lambda t: math.nan),
        ],
    )

    def alert(slo: str, name: str, state: str, severity: str, spans: list[tuple[int, int]]):
        labels = _labels(slo, alertname=name, alertstate=state, **{LABEL_SEVERITY: severity})
        return labels, lambda t: 1.0 if any(a <= t <= b for a, b in spans) else None

    a1, b1 = history.incident_1
    a2, b2 = history.incident_2
    family(
        "ALERTS",
        [
            alert("availability", "ShopAvailability", "firing", "page", [(a1, b1), (a2, b2)]),
            alert("availability", "ShopAvailability", "pending", "page", [(a1 - 300, a1 - 60)]),
            alert("availability", "ShopAvailability", "firing", "ticket", [(a1 - 3600, b1 + 3600)]),
            alert(
                "latency",
                "ShopLatency",
                "firing",
                "page",
                [(history.latency_page_start, history.stop)],
            ),
        ],
    )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def history() -> History:
    now = int(time.time()) // MINUTE * MINUTE
    return History(now=now, start=now - 8 * DAY, stop=now + 2 * 3600)


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory, history: History) -> Iterator[str]:
    """Debian's Prometheus on 127.0.0.1 serving ``history``; stopped after the session."""
    root = tmp_path_factory.mktemp("report-prometheus")
    with running_prometheus(root, openmetrics(history)) as url:
        yield url
