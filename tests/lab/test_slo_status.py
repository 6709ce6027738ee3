"""The SLO table of `sre lab status`, built from Prometheus answers."""

from __future__ import annotations

import pytest

from lab.slo_status import FiringAlert, Sample, SloRow, build_rows, parse_vector
from sre_platform.errors import LabError

AVAIL = {"sloth_service": "exchange", "sloth_slo": "order-api-availability"}
LATENCY = {"sloth_service": "exchange", "sloth_slo": "order-execution-latency"}


def _columns(**values: float) -> dict[str, list[Sample]]:
    return {name: [Sample(AVAIL, value)] for name, value in values.items()}


@pytest.mark.parametrize(
    ("columns", "alerts", "expected"),
    [
        pytest.param(
            _columns(objective=0.999, sli_5m=1.0, sli_1h=0.9995, burn_rate=0, budget_remaining=1),
            [],
            [SloRow("exchange", "order-api-availability", 0.999, 1.0, 0.9995, 0, 1, ())],
            id="a healthy SLO has every column and no alert",
        ),
        pytest.param(
            _columns(objective=0.999, sli_5m=0.0, burn_rate=1000.0, budget_remaining=-2.5),
            [
                Sample(
                    {
                        **AVAIL,
                        "alertname": "ExchangeOrderAPIAvailability",
                        "sloth_severity": "page",
                    },
                    1,
                ),
            ],
            [
                SloRow(
                    "exchange",
                    "order-api-availability",
                    0.999,
                    0.0,
                    None,
                    1000.0,
                    -2.5,
                    (FiringAlert("ExchangeOrderAPIAvailability", "page"),),
                ),
            ],
            id="an outage shows its burn rate, an overspent budget and the page",
        ),
        pytest.param(
            {"objective": [Sample(AVAIL, 0.999)], "sli_5m": [Sample(AVAIL, float("nan"))]},
            [],
            [SloRow("exchange", "order-api-availability", 0.999, None, None, None, None, ())],
            id="no traffic yet reads as no value, not as NaN",
        ),
        pytest.param(
            {"objective": [Sample(LATENCY, 0.99), Sample(AVAIL, 0.999), Sample({}, 1)]},
            [],
            [
                SloRow("exchange", "order-api-availability", 0.999, None, None, None, None, ()),
                SloRow("exchange", "order-execution-latency", 0.99, None, None, None, None, ()),
            ],
            id="rows are sorted by service and SLO and series without SLO labels are ignored",
        ),
    ],
)
def test_build_rows(
    columns: dict[str, list[Sample]], alerts: list[Sample], expected: list[SloRow]
) -> None:
    assert build_rows(columns, alerts) == expected


def test_parse_vector_reads_samples() -> None:
    body = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": AVAIL, "value": [1, "0.5"]}]},
    }
    assert parse_vector(body) == [Sample(AVAIL, 0.5)]


def test_parse_vector_refuses_an_error_answer() -> None:
    with pytest.raises(LabError, match="bad_data"):
        parse_vector({"status": "error", "errorType": "bad_data", "error": "bad_data: parse"})
