"""Shared fixtures of the infrastructure tests: the project, its stacks, rendered once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from moto import mock_aws

from stacks.project import list_stacks
from stacks.render import RenderedResource, Rendering, render_stack, run_mocked

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS = list_stacks(PROJECT_DIR)
REGION = "us-east-1"  # where the moto replays run
TAGS = {"service": "exchange", "environment": "test", "owner": "sre-team"}


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated classes when its modules are imported.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in process for the test, with dummy credentials in REGION (for the replays)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def project_dir() -> Path:
    """The checkout (where Pulumi.yaml is)."""
    return PROJECT_DIR


@pytest.fixture(scope="session")
def renderings() -> dict[str, Rendering]:
    """Every stack of the project rendered under the mock runtime, once per session."""
    return {stack: render_stack(PROJECT_DIR, stack) for stack in STACKS}


def declare(program: Callable[[], object]) -> dict[str, RenderedResource]:
    """Run ``program`` under mocks and return what it declared, by resource name."""
    resources, _ = run_mocked(program)
    return {r.name: r for r in resources}


def of_type(resources: dict[str, RenderedResource] | Sequence[RenderedResource], token: str):
    """The resources of one type token."""
    values = resources.values() if isinstance(resources, dict) else resources
    return [r for r in values if r.type == token]
