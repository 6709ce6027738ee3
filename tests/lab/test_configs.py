"""The generated lab configuration, checked by promtool and amtool themselves."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from alerting.names import LABEL_SEVERITY, SEVERITY_PAGE
from alerting.routing import LAB_TIMING, PAGE_RECEIVER, TICKET_RECEIVER
from lab import configs
from lab.settings import LabConfig
from sre_platform.errors import SpecError
from tests.lab.helpers import require


def _check(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require(tool), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_accepts_the_prometheus_config_and_its_rules(lab_config: LabConfig) -> None:
    files = configs.write(lab_config, configs.generate(lab_config))
    result = _check("promtool", "check", "config", str(files.prometheus))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and str(files.rules) in result.stdout


def test_prometheus_loads_the_lab_alerts_beside_the_slo_rules(lab_config: LabConfig) -> None:
    files = configs.write(lab_config, configs.generate(lab_config))
    parsed = yaml.safe_load(files.prometheus.read_text())
    assert parsed["rule_files"] == [str(files.rules), str(files.lab_rules)]
    assert files.lab_rules.parent == files.rules.parent
    assert files.lab_rules.read_text() == configs.LAB_RULES_SOURCE.read_text()
    result = _check("promtool", "check", "config", str(files.prometheus))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found\n" in result.stdout.split(str(files.lab_rules), 1)[1]


def test_amtool_accepts_the_alertmanager_config(lab_config: LabConfig) -> None:
    files = configs.write(lab_config, configs.generate(lab_config))
    result = _check("amtool", "check-config", str(files.alertmanager))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_page_routes_to_the_local_page_hook(lab_config: LabConfig) -> None:
    files = configs.write(lab_config, configs.generate(lab_config))
    result = _check(
        "amtool", "config", "routes", "test", "--config.file", str(files.alertmanager),
        f"{LABEL_SEVERITY}={SEVERITY_PAGE}", "alertname=ExchangeOrderAPIAvailability",
    )  # fmt: skip
    # Every alert also reaches the remediator (the third receiver), then the page hook.
    assert result.stdout.strip() == f"remediation,{PAGE_RECEIVER}"
    receivers = {r["name"]: r for r in yaml.safe_load(files.alertmanager.read_text())["receivers"]}
    assert receivers["remediation"]["webhook_configs"][0]["url"] == (
        f"http://127.0.0.1:{lab_config.ports.remediator}/webhook"
    )
    hook = receivers[PAGE_RECEIVER]["webhook_configs"][0]
    assert hook == {
        "url": f"http://127.0.0.1:{lab_config.ports.receiver}/hook/{PAGE_RECEIVER}",
        "send_resolved": True,
    }
    assert TICKET_RECEIVER in receivers


def test_alertmanager_uses_the_lab_timing(lab_config: LabConfig) -> None:
    route = yaml.safe_load(configs.alertmanager_yaml(lab_config))["route"]
    assert (route["group_wait"], route["group_interval"]) == (
        LAB_TIMING.group_wait,
        LAB_TIMING.group_interval,
    )


def test_prometheus_scrapes_every_component_with_short_intervals(lab_config: LabConfig) -> None:
    parsed = yaml.safe_load(configs.prometheus_yaml(lab_config, (Path("/r.yaml"),)))
    jobs = {job["job_name"]: job for job in parsed["scrape_configs"]}
    ports = lab_config.ports
    # The replicas come from the file_sd list the supervisor rewrites when it scales.
    files = configs.files_of(lab_config.run_dir)
    assert jobs["exchange"]["file_sd_configs"][0]["files"] == [str(files.exchange_targets)]
    generated = json.loads(configs.generate(lab_config).exchange_targets)
    assert generated[0]["targets"] == [f"127.0.0.1:{port}" for port in ports.service]
    assert jobs["lab-remediator"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{ports.remediator}"
    ]
    assert set(jobs) == {"exchange", "lab-supervisor", "lab-loadgen", "lab-remediator", "node",
                         "prometheus", "alertmanager"}  # fmt: skip
    assert parsed["global"]["scrape_interval"] == "5s"
    assert parsed["global"]["evaluation_interval"] == "5s"
    assert parsed["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{ports.alertmanager}"
    ]


def test_the_rules_are_the_compilers_output_for_the_specs(lab_config: LabConfig) -> None:
    from alerting import compile_specs, merge_rule_files

    expected = merge_rule_files(compile_specs([lab_config.specs[0]], period="30d"))
    assert configs.generate(lab_config).rules == expected


@pytest.mark.parametrize(
    "spec_text",
    [
        pytest.param("version: prometheus/v1\nservice: x\nslos: [{name: a}]\n", id="a bad spec"),
        pytest.param("version: [unclosed\n", id="a spec that is not YAML"),
    ],
)
def test_a_bad_spec_leaves_the_previous_files_untouched(
    lab_config: LabConfig, tmp_path: Path, spec_text: str
) -> None:
    files = configs.write(lab_config, configs.generate(lab_config))
    before = {path: path.read_text() for path in (files.prometheus, files.rules, files.lab_rules)}
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec_text)
    broken = lab_config.model_copy(update={"specs": (bad,)})
    with pytest.raises(SpecError):
        configs.write(broken, configs.generate(broken))
    assert {path: path.read_text() for path in before} == before
