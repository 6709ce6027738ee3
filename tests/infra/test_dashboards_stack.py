"""The dashboards deployed with the infrastructure: the Observability component declares them in
AMG in one folder, after the data source they query, and every stack with Grafana carries
exactly what the dashboards package builds from its SLO specs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from components.observability import (
    AMP_DATA_SOURCE_TYPE,
    AMP_DATA_SOURCE_UID,
    DASHBOARD_FOLDER_TITLE,
    DASHBOARD_FOLDER_UID,
    Dashboard,
    GrafanaArgs,
    Observability,
    ObservabilityArgs,
)
from dashboards.build import BuiltDashboard, DataSource, dashboards_from_specs
from sre_platform.cli import app
from sre_platform.errors import SpecError
from stacks.config import load_stack_file
from stacks.environment import stack_dashboards
from stacks.project import read_stack_config
from stacks.render import Rendering, run_program
from tests.infra.conftest import PROJECT_DIR, STACKS, TAGS, declare, of_type

DASHBOARD = "grafana:oss/dashboard:Dashboard"
FOLDER = "grafana:oss/folder:Folder"
DATA_SOURCE = "grafana:oss/dataSource:DataSource"
runner = CliRunner()


def _built(stack: str) -> list[BuiltDashboard]:
    """What the builder makes of the stack's specs and period, for the AMP data source."""
    settings = load_stack_file(PROJECT_DIR, stack)
    return dashboards_from_specs(
        [settings.specs_path],
        settings.platform.slo.period,
        datasource=DataSource(type=AMP_DATA_SOURCE_TYPE, default=AMP_DATA_SOURCE_UID),
    )


def _grafana_stacks() -> list[str]:
    return [s for s in STACKS if load_stack_file(PROJECT_DIR, s).platform.grafana.enabled]


def _observability(dashboards: list[Dashboard]) -> dict:
    args = ObservabilityArgs(
        prefix="exchange-test",
        region="us-east-1",
        account_id="123456789012",
        tags=TAGS,
        page_topic_arn="arn:aws:sns:us-east-1:123456789012:exchange-test-page",
        ticket_topic_arn="arn:aws:sns:us-east-1:123456789012:exchange-test-ticket",
        grafana=GrafanaArgs(today=date(2026, 3, 5)),
        dashboards=dashboards,
    )
    return declare(lambda: Observability("obs", args))


def _board(name: str, uid: str | None = None) -> Dashboard:
    model: dict[str, Any] = {"title": name, "panels": []}
    if uid:
        model["uid"] = uid
    return Dashboard(name=name, config_json=json.dumps(model))


def _data_source_refs(value: Any) -> Iterator[dict]:
    """Every ``datasource`` reference of a dashboard model (panels, targets, variables)."""
    if isinstance(value, dict):
        ref = value.get("datasource")
        if isinstance(ref, dict):
            yield ref
        for item in value.values():
            yield from _data_source_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _data_source_refs(item)


# --- the component ---------------------------------------------------------------------------


def test_the_component_puts_every_dashboard_in_one_folder_after_the_data_source() -> None:
    obs = _observability([_board("slo-overview", "sre-a"), _board("hosts", "sre-b")])
    (folder,) = of_type(obs, FOLDER)
    assert folder.name == "obs-dashboard-folder"
    assert folder.inputs["uid"] == DASHBOARD_FOLDER_UID
    assert folder.inputs["title"] == DASHBOARD_FOLDER_TITLE
    assert folder.inputs["preventDestroyIfNotEmpty"] is True
    (data_source,) = of_type(obs, DATA_SOURCE)
    assert data_source.inputs["uid"] == AMP_DATA_SOURCE_UID
    assert data_source.inputs["type"] == AMP_DATA_SOURCE_TYPE
    boards = {r.name: r for r in of_type(obs, DASHBOARD)}
    assert set(boards) == {"obs-dashboard-slo-overview", "obs-dashboard-hosts"}
    for board in boards.values():
        assert board.inputs["folder"] == DASHBOARD_FOLDER_UID
        assert board.dependencies["folder"] == (folder.name,)
        assert data_source.name in board.depends_on
        assert board.inputs["overwrite"] is True
        assert board.parent == "obs"
    grafana_objects = [folder, data_source, *boards.values()]
    provider = "obs-grafana-provider"
    assert all(r.parent == "obs" for r in grafana_objects)
    assert provider in {r.name for r in obs.values()}


def test_without_dashboards_there_is_no_folder() -> None:
    obs = _observability([])
    assert of_type(obs, FOLDER) == [] and of_type(obs, DASHBOARD) == []


@pytest.mark.parametrize(
    ("boards", "message"),
    [
        pytest.param(
            [_board("slo", "a"), _board("slo", "b")],
            "dashboards share names: slo",
            id="two dashboards of one name are refused (one resource name)",
        ),
        pytest.param(
            [_board("one", "sre-x"), _board("two", "sre-x")],
            "dashboards share uids: sre-x",
            id="two dashboards of one uid are refused (Grafana keeps one)",
        ),
        pytest.param(
            [Dashboard(name="list", config_json="[1, 2]")],
            "dashboard 'list': its JSON model must be an object",
            id="a model that is not a JSON object is refused, naming the dashboard",
        ),
    ],
)
def test_dashboards_that_would_collide_are_refused(boards: list[Dashboard], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _observability(boards)


# --- the stacks ------------------------------------------------------------------------------


def test_some_stack_has_grafana_and_one_does_not() -> None:
    assert "prod" in _grafana_stacks() and set(STACKS) - set(_grafana_stacks())


@pytest.mark.parametrize("stack", STACKS)
def test_a_stack_with_grafana_declares_exactly_the_built_dashboards(
    renderings: dict[str, Rendering], stack: str
) -> None:
    rendering = renderings[stack]
    deployed = {r.name: r for r in rendering.of_type(DASHBOARD)}
    if stack not in _grafana_stacks():
        assert deployed == {} and rendering.of_type(FOLDER) == []
        return
    built = _built(stack)
    assert built, "the builder makes dashboards of the project's specs"
    assert set(deployed) == {f"observability-dashboard-{b.name}" for b in built}
    (folder,) = rendering.of_type(FOLDER)
    (data_source,) = rendering.of_type(DATA_SOURCE)
    for board in built:
        resource = deployed[f"observability-dashboard-{board.name}"]
        assert resource.inputs["configJson"] == board.json_text()  # byte for byte
        assert json.loads(resource.inputs["configJson"]) == board.model
        assert resource.inputs["folder"] == folder.inputs["uid"] == DASHBOARD_FOLDER_UID
        assert data_source.name in resource.depends_on
        assert resource.parent == "observability"


@pytest.mark.parametrize("stack", ["prod"])
def test_the_deployed_dashboards_query_the_amp_data_source(
    renderings: dict[str, Rendering], stack: str
) -> None:
    (data_source,) = renderings[stack].of_type(DATA_SOURCE)
    for resource in renderings[stack].of_type(DASHBOARD):
        model = json.loads(resource.inputs["configJson"])
        refs = list(_data_source_refs(model))
        assert refs, f"{resource.name} names no data source"
        for ref in refs:
            assert ref.get("type") == data_source.inputs["type"] == AMP_DATA_SOURCE_TYPE
            assert ref.get("uid") in (data_source.inputs["uid"], "${datasource}")
        (variable,) = [v for v in model["templating"]["list"] if v["name"] == "datasource"]
        assert variable["query"] == AMP_DATA_SOURCE_TYPE
        assert variable["current"]["value"] == data_source.inputs["uid"] == AMP_DATA_SOURCE_UID


def test_sre_stack_render_prod_json_shows_each_built_dashboard() -> None:
    result = runner.invoke(
        app, ["stack", "render", "--project-dir", str(PROJECT_DIR), "--stack", "prod", "--json"]
    )
    assert result.exit_code == 0, result.output
    resources = json.loads(result.stdout)["resources"]
    deployed = {r["name"]: r["inputs"] for r in resources if r["type"] == DASHBOARD}
    built = _built("prod")
    assert len(deployed) == len(built)
    for board in built:
        assert deployed[f"observability-dashboard-{board.name}"]["configJson"] == board.json_text()
    assert [r["inputs"]["uid"] for r in resources if r["type"] == FOLDER] == [DASHBOARD_FOLDER_UID]


def test_grafana_dashboards_false_leaves_them_out() -> None:
    config = read_stack_config(PROJECT_DIR, "prod")
    grafana = dict(config["sre-platform:grafana"])
    config["sre-platform:grafana"] = {**grafana, "dashboards": False}
    rendering = run_program("prod", config, PROJECT_DIR)
    assert rendering.of_type(DASHBOARD) == [] and rendering.of_type(FOLDER) == []
    assert len(rendering.of_type(DATA_SOURCE)) == 1


def test_a_broken_spec_stops_the_dashboards_naming_the_file_and_field(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_DIR / "slo_specs", tmp_path / "slo_specs")
    spec = sorted((tmp_path / "slo_specs").glob("*.yaml"))[0]
    spec.write_text(spec.read_text().replace("objective:", "objectiv:", 1))
    settings = load_stack_file(PROJECT_DIR, "prod")
    broken = settings.model_copy(update={"specs_path": tmp_path / "slo_specs"})
    with pytest.raises(SpecError) as raised:
        stack_dashboards(broken)
    assert spec.name in str(raised.value) and "objectiv" in str(raised.value)
