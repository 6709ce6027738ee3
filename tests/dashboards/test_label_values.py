"""PrometheusClient.label_values (the values the check resolves variables to) against answers
good and bad, served by the hostile local Prometheus of the budget tests; and the check's exit 4
when Prometheus answers nonsense."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from sre_platform.errors import PrometheusError
from sre_platform.prometheus import Limits, PrometheusClient
from tests.budget.hostile import HostileServer, drip, hostile_server, send_json
from tests.dashboards.helpers import SPECS
from tests.lab.helpers import sre


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile_server() as running:
        yield running


def test_label_values_returns_the_values_of_a_good_answer(server: HostileServer) -> None:
    url = server.url(send_json({"status": "success", "data": ["a", "b"]}))
    assert PrometheusClient(url).label_values("sloth_slo", "slo:objective:ratio") == ["a", "b"]


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        pytest.param(
            send_json({"status": "success", "data": [1, {"x": 2}]}),
            "not a list of label values",
            id="values that are not strings",
        ),
        pytest.param(
            send_json({"status": "success", "data": {"resultType": "vector", "result": []}}),
            "not a list of label values",
            id="a vector instead of a list",
        ),
        pytest.param(
            send_json({"status": "error", "error": "bad match[]"}),
            "refused 'label_values(up, job)': bad match[]",
            id="an error answer names the query",
        ),
        pytest.param(drip(0.5), "deadline", id="an answer that drips past the deadline"),
    ],
)
def test_label_values_turns_every_bad_answer_into_a_prometheus_error(
    server: HostileServer, behaviour: object, message: str
) -> None:
    client = PrometheusClient(server.url(behaviour), limits=Limits(timeout_seconds=2))  # type: ignore[arg-type]
    with pytest.raises(PrometheusError, match=re.escape(message)):
        client.label_values("job", "up")


def test_check_cannot_decide_when_prometheus_answers_nonsense(server: HostileServer) -> None:
    url = server.url(send_json({"status": "success", "data": "not a result"}))
    result = sre("dashboards", "check", "-i", str(SPECS), "--prometheus", url)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "sent an answer that is not" in result.stderr and "Traceback" not in result.stderr
