"""The fleet's and Grafana's keys of issue 9: prod needs a certificate, the Grafana token's
rotation must fit its life, the tool tarballs are pinned; missing downloads stop `pulumi up`
(naming the key to fix) but only warn in a preview."""

from __future__ import annotations

import copy
import hashlib
import logging
from typing import Any

import pytest

from components.observability import TOKEN_MARGIN_DAYS
from sre_platform.errors import StackConfigError
from stacks import config
from stacks.config import parse_settings
from stacks.environment import fleet_artifacts
from stacks.project import read_stack_config
from stacks.render import run_program
from tests.infra.conftest import PROJECT_DIR

PROMETHEUS = "prometheus-3.5.0.linux-amd64.tar.gz"
NODE_EXPORTER = "node_exporter-1.9.1.linux-amd64.tar.gz"


def _config(stack: str, section: str, **changes: Any) -> dict[str, Any]:
    values = copy.deepcopy(read_stack_config(PROJECT_DIR, stack))
    key = f"sre-platform:{section}"
    values[key] = {**values.get(key, {}), **changes}
    return values


def _problems(stack: str, values: dict[str, Any]) -> list[str]:
    with pytest.raises(StackConfigError) as error:
        parse_settings(stack, values, project_dir=PROJECT_DIR, source=f"Pulumi.{stack}.yaml")
    return [f"{p.field}: {p.message}" for p in error.value.problems]


def test_prod_refuses_to_render_without_a_certificate() -> None:
    values = read_stack_config(PROJECT_DIR, "prod")
    del values["sre-platform:fleet"]["certificate_arn"]
    (problem,) = _problems("prod", values)
    assert problem.startswith("sre-platform:fleet.certificate_arn: must name an ACM certificate")


def test_the_shipped_prod_certificate_is_an_obvious_placeholder() -> None:
    arn = read_stack_config(PROJECT_DIR, "prod")["sre-platform:fleet"]["certificate_arn"]
    assert arn.startswith("arn:aws:acm:us-east-1:123456789012:certificate/00000000-")


@pytest.mark.parametrize("stack", ["dev", "staging", "local"])
def test_other_stacks_may_serve_plain_http(stack: str) -> None:
    settings = parse_settings(stack, read_stack_config(PROJECT_DIR, stack), project_dir=PROJECT_DIR)
    assert settings.platform.fleet.certificate_arn is None


@pytest.mark.parametrize(
    ("section", "changes", "expected"),
    [
        pytest.param(
            "grafana", {"version": "9.4"}, "sre-platform:grafana.version: input should be",
            id="a Grafana version without the AMP plugin is refused",
        ),
        pytest.param(
            "grafana", {"token_rotation_days": 29}, "sre-platform:grafana.token_rotation_days: must be at most 28",
            id="a rotation period longer than 30 days less the margin is refused",
        ),
        pytest.param(
            "grafana", {"token_rotation_days": 10, "token_ttl_seconds": 11 * 86_400},
            "sre-platform:grafana.token_rotation_days: must be at least 2 days shorter",
            id="a token that would not outlive its rotation period is refused",
        ),
        pytest.param(
            "fleet", {"prometheus_sha256": "ABC"}, "sre-platform:fleet.prometheus_sha256: must be a SHA-256",
            id="a pin that is not a SHA-256 is refused",
        ),
        pytest.param(
            "fleet", {"image_id": "al2023"}, "sre-platform:fleet.image_id: must be an AMI id",
            id="an image that is neither an AMI id nor an SSM parameter is refused",
        ),
    ],
)  # fmt: skip
def test_mistakes_name_their_key(section: str, changes: dict, expected: str) -> None:
    problems = _problems("dev", _config("dev", section, **changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_config_margin_is_the_components_margin() -> None:
    assert config.TOKEN_MARGIN_DAYS == TOKEN_MARGIN_DAYS


# --- artifacts at the program's edge ----------------------------------------------------------


def _settings(tmp_path, **fleet: Any):
    values = _config("dev", "fleet", downloads_dir=str(tmp_path), **fleet)
    return parse_settings("dev", values, project_dir=PROJECT_DIR, source="Pulumi.dev.yaml")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_missing_downloads_stop_a_deployment_naming_the_keys(tmp_path) -> None:
    (tmp_path / PROMETHEUS).write_bytes(b"prometheus")
    with pytest.raises(StackConfigError) as error:
        fleet_artifacts(_settings(tmp_path), preview=False)
    problems = {(p.file, p.field): p.message for p in error.value.problems}
    assert set(problems) == {
        ("Pulumi.dev.yaml", "sre-platform:fleet.downloads_dir"),  # wheels/, node_exporter
        ("Pulumi.dev.yaml", "sre-platform:fleet.prometheus_sha256"),  # there, not pinned
    }
    assert len(error.value.problems) == 3
    assert (
        _sha(b"prometheus") in problems[("Pulumi.dev.yaml", "sre-platform:fleet.prometheus_sha256")]
    )


def test_a_preview_warns_about_missing_downloads_and_goes_on(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        rendering = run_program(
            "dev", _config("dev", "fleet", downloads_dir=str(tmp_path)), PROJECT_DIR
        )
    assert rendering.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "sre-platform:fleet.downloads_dir" in w and "`pulumi up` refuses to deploy" in w
        for w in warnings
    ), warnings


def test_a_download_that_differs_from_its_pin_stops_a_preview_too(tmp_path) -> None:
    (tmp_path / PROMETHEUS).write_bytes(b"tampered")
    with pytest.raises(StackConfigError) as error:
        fleet_artifacts(_settings(tmp_path, prometheus_sha256=_sha(b"prometheus")), preview=True)
    assert any(
        p.field == "sre-platform:fleet.prometheus_sha256" and "not the pinned" in p.message
        for p in error.value.problems
    )


def test_pinned_downloads_are_uploaded_with_their_pins(tmp_path) -> None:
    (tmp_path / PROMETHEUS).write_bytes(b"prometheus")
    (tmp_path / NODE_EXPORTER).write_bytes(b"node_exporter")
    built = fleet_artifacts(
        _settings(
            tmp_path,
            prometheus_sha256=_sha(b"prometheus"),
            node_exporter_sha256=_sha(b"node_exporter"),
        ),
        preview=True,  # the wheelhouse is missing: a warning only
    )
    assert (built.prometheus.sha256, built.node_exporter.sha256) == (
        _sha(b"prometheus"),
        _sha(b"node_exporter"),
    )
    assert [p.what for p in built.problems] == ["wheels"]
