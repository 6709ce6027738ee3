"""The lab's generated configuration: Prometheus, its SLO rules and lab alerts, and Alertmanager.

- the rules are the project compiler's output for slo_specs/, the same text AMP receives;
- the lab's own alerts (lab/rules/lab-alerts.yaml: a dead replica, orders clients get no answer
  to) are copied beside them: the SLO rules only see what the replicas answered;
- Alertmanager gets the platform's routing tree (alerting.routing) with the SNS receivers
  replaced by the local receiver and the lab's short timings, plus the third receiver,
  ``remediation``, posting every alert to the lab's remediator (lab.remediator);
- the exchange's replicas are discovered from a file_sd target list the supervisor rewrites
  whenever it scales (``<run dir>/config/exchange-targets.json``);
- Prometheus' configuration is rendered from a Jinja2 template with every value passed as data
  (JSON-escaped) and parsed back before it is written.
Everything is generated first (pure), then written atomically, so a bad spec leaves the
previous files untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from alerting import compile_specs, merge_rule_files
from alerting.routing import (
    LAB_TIMING,
    PAGE_RECEIVER,
    TICKET_RECEIVER,
    alertmanager_config,
    render_alertmanager_config,
    webhook_receiver,
)
from lab.notifications import hook_url
from lab.settings import LabConfig
from sre_platform.errors import CompileError
from sre_platform.files import write_atomic

CONFIG_DIR = "config"
LAB_RULES_SOURCE = Path(__file__).with_name("rules") / "lab-alerts.yaml"


@dataclass(frozen=True)
class ScrapeJob:
    """One Prometheus scrape job: its name (the ``job`` label) and targets."""

    name: str
    targets: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # file_sd target lists (instead of targets)


@dataclass(frozen=True)
class LabFiles:
    """Where the generated files live in the run directory."""

    prometheus: Path
    alertmanager: Path
    rules: Path
    lab_rules: Path
    exchange_targets: Path

    @property
    def rule_files(self) -> tuple[Path, ...]:
        """Every rules file Prometheus loads: the compiled SLO rules, then the lab's alerts."""
        return (self.rules, self.lab_rules)


@dataclass(frozen=True)
class GeneratedConfigs:
    """The generated texts, before they are written."""

    prometheus: str
    alertmanager: str
    rules: str
    lab_rules: str
    exchange_targets: str


def files_of(run_dir: Path) -> LabFiles:
    """The paths of the generated files in ``run_dir``."""
    base = run_dir / CONFIG_DIR
    return LabFiles(
        base / "prometheus.yml",
        base / "alertmanager.yml",
        base / "slo-rules.yaml",
        base / LAB_RULES_SOURCE.name,
        base / "exchange-targets.json",
    )


def scrape_jobs(config: LabConfig) -> tuple[ScrapeJob, ...]:
    """Scrape jobs for every lab component; the service's job is ``exchange`` as the specs read."""
    ports = config.ports

    def target(port: int) -> tuple[str, ...]:
        return (f"127.0.0.1:{port}",)

    return (
        ScrapeJob("exchange", files=(str(files_of(config.run_dir).exchange_targets),)),
        ScrapeJob("lab-supervisor", target(ports.supervisor)),
        ScrapeJob("lab-loadgen", target(ports.loadgen)),
        ScrapeJob("lab-remediator", target(ports.remediator)),
        ScrapeJob("node", target(ports.node_exporter)),
        ScrapeJob("prometheus", target(ports.prometheus)),
        ScrapeJob("alertmanager", target(ports.alertmanager)),
    )


def prometheus_yaml(config: LabConfig, rule_files: tuple[Path, ...]) -> str:
    """Render Prometheus' configuration for ``config`` and check it parses back as expected."""
    env = Environment(
        loader=PackageLoader("lab", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    jobs = scrape_jobs(config)
    text = env.get_template("prometheus.yml.j2").render(
        scrape_interval=config.scrape_interval,
        scrape_timeout=config.scrape_interval,
        evaluation_interval=config.evaluation_interval,
        rule_files=[str(path) for path in rule_files],
        alertmanager=f"127.0.0.1:{config.ports.alertmanager}",
        jobs=[
            {"name": job.name, "targets": list(job.targets), "files": list(job.files)}
            for job in jobs
        ],
    )
    parsed = yaml.safe_load(text)
    names = [job.get("job_name") for job in parsed.get("scrape_configs", [])]
    if names != [job.name for job in jobs] or parsed.get("rule_files") != [
        str(path) for path in rule_files
    ]:
        raise CompileError("the rendered Prometheus configuration does not read back as rendered")
    return text


def alertmanager_yaml(config: LabConfig) -> str:
    """Alertmanager's configuration: the platform's routing tree, local receivers, lab timing."""
    page = webhook_receiver(hook_url(config.ports.receiver, PAGE_RECEIVER))
    ticket = webhook_receiver(hook_url(config.ports.receiver, TICKET_RECEIVER))
    remediation = webhook_receiver(remediator_url(config))
    return render_alertmanager_config(
        alertmanager_config(page, ticket, LAB_TIMING, remediation_receiver=remediation)
    )


def remediator_url(config: LabConfig) -> str:
    """Where Alertmanager's remediation receiver posts: the lab remediator's webhook."""
    return f"http://127.0.0.1:{config.ports.remediator}/webhook"


def exchange_targets(ports: tuple[int, ...]) -> str:
    """A file_sd target list of replicas on ``ports`` (the supervisor rewrites it)."""
    return json.dumps([{"targets": [f"127.0.0.1:{port}" for port in ports], "labels": {}}]) + "\n"


def rules_yaml(config: LabConfig) -> str:
    """The SLO rules compiled from the lab's spec files (raises SpecError on a bad spec)."""
    return merge_rule_files(compile_specs(list(config.specs), period=config.period))


def lab_rules_yaml() -> str:
    """The lab's own alerting rules (the same for every lab)."""
    return LAB_RULES_SOURCE.read_text(encoding="utf-8")


def generate(config: LabConfig) -> GeneratedConfigs:
    """Every generated text for ``config`` (no files touched)."""
    files = files_of(config.run_dir)
    return GeneratedConfigs(
        prometheus=prometheus_yaml(config, files.rule_files),
        alertmanager=alertmanager_yaml(config),
        rules=rules_yaml(config),
        lab_rules=lab_rules_yaml(),
        exchange_targets=exchange_targets(config.ports.service),
    )


def write(config: LabConfig, generated: GeneratedConfigs) -> LabFiles:
    """Write the generated texts atomically into the run directory."""
    files = files_of(config.run_dir)
    write_atomic(files.rules, generated.rules)
    write_atomic(files.lab_rules, generated.lab_rules)
    write_atomic(files.exchange_targets, generated.exchange_targets)
    write_atomic(files.alertmanager, generated.alertmanager)
    write_atomic(files.prometheus, generated.prometheus)
    return files
