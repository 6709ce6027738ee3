"""`sre stack check`: the security baseline over a stack rendered offline, with the verdict of
the policy pack; every stack passes, and a stack broken in each new way fails naming the rule
and the resource."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pulumiverse_grafana as grafana
import pytest
import yaml
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)
from typer.testing import CliRunner

import stacks.render
from policy.pack import policies
from sre_platform.cli import app
from sre_platform.errors import UsageError
from stacks.check import check_rendering
from stacks.program import main
from stacks.project import read_stack_config
from stacks.render import Rendering, resolve, run_mocked
from tests.infra.conftest import PROJECT_DIR, STACKS

runner = CliRunner()
TAGS = {"service": "exchange", "environment": "prod", "owner": "sre-team"}
AMP = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/"
SSM_AMI = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def _check(*args: str, project: Path = PROJECT_DIR) -> Any:
    return runner.invoke(app, ["stack", "check", "--project-dir", str(project), *args])


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_the_baseline(stack: str) -> None:
    result = _check("--stack", stack)
    assert result.exit_code == 0, result.output
    assert f"stack {stack}: no violations of the security baseline" in result.stdout


def _rendered_with(stack: str, extra: Callable[[], object]) -> Rendering:
    """The stack's program under mocks, plus whatever ``extra`` declares after it."""
    config = read_stack_config(PROJECT_DIR, stack)

    def program() -> Any:
        outputs = main(PROJECT_DIR)
        extra()
        return outputs

    resources, outputs = run_mocked(program, stack, config)
    return Rendering(stack=stack, resources=resources, outputs=resolve(outputs.exports()))


def _rogue_data_source() -> None:
    grafana.oss.DataSource("rogue-datasource", type="prometheus", url=AMP, name="AMP")


def _rogue_workspace() -> None:
    aws.grafana.Workspace(
        "rogue-grafana",
        account_access_type="CURRENT_ACCOUNT",
        authentication_providers=["AWS_SSO"],
        permission_type="SERVICE_MANAGED",
        tags=TAGS,
    )


def _rogue_rollback() -> None:
    template = aws.ec2.LaunchTemplate(
        "rogue-lt",
        image_id=SSM_AMI,
        metadata_options={"http_tokens": "required"},
        tags=TAGS,
    )
    aws.autoscaling.Group(
        "rogue-asg",
        min_size=1,
        max_size=1,
        launch_template={"id": template.id, "version": "$Latest"},
        instance_refresh={"strategy": "Rolling", "preferences": {"auto_rollback": True}},
        tags=[{"key": k, "value": v, "propagate_at_launch": True} for k, v in TAGS.items()],
    )


def _rogue_listener() -> None:
    balancer = aws.lb.LoadBalancer(
        "rogue-alb",
        access_logs={"bucket": "logs", "enabled": True},
        tags=TAGS,
    )
    aws.lb.Listener(
        "rogue-http",
        load_balancer_arn=balancer.arn,
        port=80,
        protocol="HTTP",
        default_actions=[
            {"type": "fixed-response", "fixed_response": {"content_type": "text/plain"}}
        ],
        tags=TAGS,
    )


def _rogue_load_balancer() -> None:
    aws.lb.LoadBalancer("rogue-alb", load_balancer_type="application", tags=TAGS)


def _rogue_vpc() -> None:
    aws.ec2.Vpc("rogue-vpc", cidr_block="10.99.0.0/16", tags=TAGS)


INJECTED = [
    pytest.param(
        _rogue_data_source,
        "grafana-amp-datasource: rogue-datasource (grafana:oss/dataSource:DataSource)",
        id="a core Prometheus data source reading AMP fails the check",
    ),
    pytest.param(
        _rogue_workspace,
        "grafana-version-pinned: rogue-grafana (aws:grafana/workspace:Workspace)",
        id="a Grafana workspace without a pinned version fails the check",
    ),
    pytest.param(
        _rogue_rollback,
        "rollback-needs-ami-id: rogue-asg (aws:autoscaling/group:Group)",
        id="auto rollback with an SSM parameter AMI fails the check",
    ),
    pytest.param(
        _rogue_listener,
        "prod-http-redirects: rogue-http (aws:lb/listener:Listener)",
        id="a prod HTTP listener that serves fails the check",
    ),
    pytest.param(
        _rogue_load_balancer,
        "alb-access-logs: rogue-alb (aws:lb/loadBalancer:LoadBalancer)",
        id="a load balancer without access logs fails the check",
    ),
    pytest.param(
        _rogue_vpc,
        "vpc-flow-logs: rogue-vpc (aws:ec2/vpc:Vpc)",
        id="a VPC without flow logs fails the check",
    ),
]


@pytest.mark.parametrize(("extra", "named"), INJECTED)
def test_a_stack_with_a_broken_resource_fails_naming_rule_and_resource(
    monkeypatch: pytest.MonkeyPatch, extra: Callable[[], None], named: str
) -> None:
    broken = _rendered_with("prod", extra)
    monkeypatch.setattr(stacks.render, "render_stack", lambda project_dir, stack: broken)
    result = _check("--stack", "prod")
    assert result.exit_code == 1, result.output
    assert any(line.startswith(named) for line in result.stdout.splitlines()), result.stdout
    assert "violation" in result.stdout.splitlines()[-1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's Pulumi files and SLO specs."""
    for path in PROJECT_DIR.glob("Pulumi*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    shutil.copytree(PROJECT_DIR / "slo_specs", tmp_path / "slo_specs")
    shutil.copytree(PROJECT_DIR / "ops", tmp_path / "ops")  # the remediation policy
    return tmp_path


def test_a_stack_whose_config_leaves_the_alert_topics_unread_fails(project: Path) -> None:
    path = project / "Pulumi.staging.yaml"
    document = yaml.safe_load(path.read_text())
    del document["config"]["sre-platform:alerting"]
    path.write_text(yaml.safe_dump(document))
    result = _check("--stack", "staging", project=project)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    for topic in ("alerts-page", "alerts-ticket"):
        assert any(
            line.startswith(f"alert-topics-subscribed: {topic} (aws:sns/topic:Topic)")
            for line in lines
        ), result.stdout


def test_json_lists_each_violation_with_its_rule_and_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = _rendered_with("dev", _rogue_vpc)
    monkeypatch.setattr(stacks.render, "render_stack", lambda project_dir, stack: broken)
    result = _check("--stack", "dev", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert set(document) == {"stack", "resources", "rules", "violations"}
    assert document["stack"] == "dev" and document["resources"] == len(broken.resources)
    assert "vpc-flow-logs" in document["rules"]
    assert {
        "rule": "vpc-flow-logs",
        "type": "aws:ec2/vpc:Vpc",
        "name": "rogue-vpc",
        "message": "no aws.ec2.FlowLog records this VPC's traffic",
    } in document["violations"]
    assert "checking" in result.stderr and "security baseline" in result.stderr


def test_an_unknown_stack_is_a_usage_error() -> None:
    error = _check("--stack", "nosuch").exception
    assert isinstance(error, UsageError) and error.exit_code == 2  # `sre` exits 2
    assert "the stacks are: dev, local, prod, staging" in str(error)


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _as_policy_resources(rendering: Rendering) -> list[PolicyResource]:
    """The rendering as a policy pack's stack analysis sees it: props, parents, and the
    resources each property came from."""
    by_name: dict[str, PolicyResource] = {}
    for r in rendering.resources:
        by_name[r.name] = PolicyResource(
            r.type,
            copy.deepcopy(dict(r.inputs)),
            f"urn:pulumi:{rendering.stack}::sre-platform::{r.type}::{r.name}",
            r.name,
            _options(),
            None,
            None,
            [],
            {},
        )
    for r in rendering.resources:
        resource = by_name[r.name]
        resource.parent = by_name.get(r.parent) if r.parent else None
        resource.property_dependencies = {
            key: [by_name[n] for n in names] for key, names in r.dependencies.items()
        }
    return list(by_name.values())


@pytest.mark.parametrize(
    "extra",
    [pytest.param(lambda: None, id="the stack as it is")]
    + [pytest.param(p.values[0], id=f"with {p.id}") for p in INJECTED],
)
def test_the_check_gives_the_verdict_of_the_policy_pack(extra: Callable[[], None]) -> None:
    rendering = _rendered_with("prod", extra)
    resources = _as_policy_resources(rendering)
    reported: set[tuple[str, str]] = set()
    for policy in policies():
        if isinstance(policy, StackValidationPolicy):
            policy.validate(
                StackValidationArgs(resources),
                lambda message, urn, rule=policy.name: reported.add((rule, message)),
            )
            continue
        for r in resources:
            policy.validate(
                ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, _options(), None),
                lambda message, urn, rule=policy.name, name=r.name: reported.add(
                    (rule, f"{name}: {message}")
                ),
            )
    checked = {(v.rule, f"{v.name}: {v.message}") for v in check_rendering(rendering).violations}
    assert checked == reported
