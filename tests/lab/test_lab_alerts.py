"""The lab's own alerts (lab/rules/lab-alerts.yaml), proven by promtool on synthetic series.

Each case is one promtool unit-test group: series at the lab's 5 s scrape interval, evaluated
every 5 s like the lab's Prometheus, and the alerts that must be firing at given times (promtool
compares firing alerts only, so ``[]`` also holds while an alert is merely pending).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.names import LABEL_ID, LABEL_SEVERITY, SEVERITIES
from lab.configs import LAB_RULES_SOURCE
from tests.lab.helpers import ROOT, require

SUPERVISOR = {"job": "lab-supervisor", "instance": "127.0.0.1:8090"}
LOADGEN = {"job": "lab-loadgen", "instance": "127.0.0.1:8092"}
PAGE = {"sloth_severity": "page", "source": "lab", "service": "exchange", "team": "exchange-oncall"}
TICKET = {"sloth_severity": "ticket", "source": "lab", "service": "exchange"}
TICKET |= {"team": "exchange-backlog", "category": "capacity"}


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _replica_up(replica: str, values: str) -> dict[str, str]:
    return _series("lab_supervisor_replica_up", {**SUPERVISOR, "replica": replica}, values)


def _restarts(replica: str, values: str) -> dict[str, str]:
    return _series("lab_supervisor_restarts_total", {**SUPERVISOR, "replica": replica}, values)


def _orders(outcome: str, values: str) -> dict[str, str]:
    return _series("lab_loadgen_orders_total", {**LOADGEN, "outcome": outcome}, values)


def _replica_down(replica: str) -> dict[str, Any]:
    return {
        "exp_labels": {**SUPERVISOR, **TICKET, "replica": replica},
        "exp_annotations": {
            "summary": f"Exchange replica {replica} has been down for over a minute",
            "description": f"The supervisor reports replica {replica} not running for over a "
            "minute (held down by a game day, or failing to start). The other replicas still "
            "serve.",
            "runbook_url": "runbooks/lab-replica-down.md",
        },
    }


def _crash_looping(replica: str) -> dict[str, Any]:
    return {
        "exp_labels": {**SUPERVISOR, **TICKET, "replica": replica},
        "exp_annotations": {
            "summary": f"Exchange replica {replica} keeps crashing (5 or more restarts in 15 "
            "minutes)",
            "description": f"The supervisor keeps restarting replica {replica}: it crashes soon "
            "after each start. Between crashes it reads as up, so ExchangeReplicaDown may never "
            "fire.",
            "runbook_url": "runbooks/lab-replica-down.md",
        },
    }


def _client_errors(percent: str) -> dict[str, Any]:
    return {
        "exp_labels": {**PAGE, "category": "availability"},
        "exp_annotations": {
            "summary": f"{percent} of exchange orders get no answer (clients see errors)",
            "description": "The load generator's orders have got no HTTP answer (connection "
            "refused or reset, timeout) for more than 5% of orders for over a minute. "
            "Server-side SLIs cannot count these: look for a replica that is down or hung.",
            "runbook_url": "runbooks/lab-client-errors.md",
        },
    }


def _at(alertname: str, when: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": when, "alertname": alertname, "exp_alerts": list(alerts)}


# 20 orders/s: 100 per 5 s scrape. A dead replica out of three from 1m to 4m: a third of the
# orders get no answer (ok counts, then unanswered counts).
HEALTHY = "0+100x200"
ONE_OF_THREE_DEAD_FROM_1M = ("0+100x11 1200+67x36 3612+100x60", "0x11 0+33x36 1188x60")

CASES = [
    pytest.param(
        [_replica_up("1", "1x60"), _replica_up("2", "1x11 0x47")],
        [
            _at("ExchangeReplicaDown", "1m55s"),
            _at("ExchangeReplicaDown", "2m05s", _replica_down("2")),
            _at("ExchangeReplicaDown", "4m", _replica_down("2")),
        ],
        id="a replica down for longer than a minute files a ticket for that replica only",
    ),
    pytest.param(
        [_replica_up("3", "1x11 0 1x47")],
        [_at("ExchangeReplicaDown", "1m"), _at("ExchangeReplicaDown", "2m05s")],
        id="a replica seen down at one scrape (a crash the supervisor restarts) files nothing",
    ),
    pytest.param(
        [_replica_up("2", "1x11 0x23 1x30")],
        [
            _at("ExchangeReplicaDown", "2m30s", _replica_down("2")),
            _at("ExchangeReplicaDown", "3m05s"),
        ],
        id="a replica held down for two minutes is ticketed before it returns, then resolves",
    ),
    pytest.param(
        [_restarts("1", "0x11 1 1 2 2 3 3 4 4 5 5 5x60")],
        [_at("ExchangeReplicaCrashLooping", "2m", _crash_looping("1"))],
        id="five restarts within fifteen minutes file a crash-loop ticket",
    ),
    pytest.param(
        [_restarts("1", "0x11 1x40 2x40 3x60")],
        [
            _at("ExchangeReplicaCrashLooping", "4m"),
            _at("ExchangeReplicaCrashLooping", "12m"),
        ],
        id="three kills during a game day file no crash-loop ticket",
    ),
    pytest.param(
        [
            _orders("ok", ONE_OF_THREE_DEAD_FROM_1M[0]),
            _orders("error", ONE_OF_THREE_DEAD_FROM_1M[1]),
            _orders("rejected", "0x96"),
            _orders("failed", "0x96"),
            _orders("skipped", "0x96"),
        ],
        [
            _at("ExchangeClientErrors", "1m55s"),
            _at("ExchangeClientErrors", "2m10s", _client_errors("33%")),
            _at("ExchangeClientErrors", "5m"),
        ],
        id="a third of orders unanswered for over a minute pages, and the page resolves after",
    ),
    pytest.param(
        [_orders("ok", "0+98x100"), _orders("error", "0+2x100"), _orders("skipped", "0x100")],
        [_at("ExchangeClientErrors", "3m"), _at("ExchangeClientErrors", "7m")],
        id="two percent of orders unanswered pages nobody",
    ),
    pytest.param(
        [_orders("ok", HEALTHY), _orders("error", "0x11 33x100")],
        [_at("ExchangeClientErrors", "1m05s"), _at("ExchangeClientErrors", "2m30s")],
        id="unanswered orders during one scrape (a replica restart) page nobody",
    ),
    pytest.param(
        [_orders("ok", "0x100"), _orders("failed", "0+100x100"), _orders("error", "0x100")],
        [_at("ExchangeClientErrors", "3m")],
        id="orders answered with a 500 are left to the SLO alerts and page nobody here",
    ),
]


def _promtool_test(tmp_path: Path, series: list[dict[str, str]], checks: list[dict]) -> str:
    test = {
        "rule_files": [str(LAB_RULES_SOURCE)],
        "evaluation_interval": "5s",
        "tests": [{"interval": "5s", "input_series": series, "alert_rule_test": checks}],
    }
    path = tmp_path / "lab-alerts.test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run(
        [require("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(("series", "checks"), CASES)
def test_lab_alerts(tmp_path: Path, series: list[dict[str, str]], checks: list[dict]) -> None:
    _promtool_test(tmp_path, series, checks)


def test_the_unanswered_ratio_leaves_out_orders_the_generator_could_not_send(
    tmp_path: Path,
) -> None:
    series = [
        _orders("ok", "0+90x30"),
        _orders("rejected", "0+5x30"),
        _orders("error", "0+5x30"),
        _orders("skipped", "0+900x30"),
    ]
    test = {
        "rule_files": [str(LAB_RULES_SOURCE)],
        "evaluation_interval": "5s",
        "tests": [
            {
                "interval": "5s",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": "lab:loadgen_orders_unanswered:ratio_rate1m",
                        "eval_time": "2m",
                        "exp_samples": [{"labels": "lab:loadgen_orders_unanswered:ratio_rate1m",
                                         "value": 0.05}],
                    }
                ],
            }
        ],
    }  # fmt: skip
    path = tmp_path / "ratio.test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run(
        [require("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_lab_rules() -> None:
    result = subprocess.run(
        [require("promtool"), "check", "rules", str(LAB_RULES_SOURCE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(LAB_RULES_SOURCE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_lab_alert_routes_by_severity_and_links_a_runbook_that_exists() -> None:
    alerts = _alerts()
    assert {alert["alert"] for alert in alerts} == {
        "ExchangeClientErrors",
        "ExchangeReplicaDown",
        "ExchangeReplicaCrashLooping",
    }
    for alert in alerts:
        labels, link = alert["labels"], alert["annotations"]["runbook_url"]
        assert labels[LABEL_SEVERITY] in SEVERITIES, alert["alert"]
        assert labels["source"] == "lab" and LABEL_ID not in labels, alert["alert"]
        assert re.fullmatch(r"runbooks/[a-z0-9-]+\.md", link) and (ROOT / link).is_file(), link


def test_the_symptom_pages_and_the_causes_file_tickets() -> None:
    severities = {alert["alert"]: alert["labels"][LABEL_SEVERITY] for alert in _alerts()}
    assert severities == {
        "ExchangeClientErrors": "page",
        "ExchangeReplicaDown": "ticket",
        "ExchangeReplicaCrashLooping": "ticket",
    }
