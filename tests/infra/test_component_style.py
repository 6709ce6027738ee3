"""House style of the components (brief item 7), checked on the source itself."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
from pathlib import Path

import pulumi
import pytest

from tests.infra.conftest import PROJECT_DIR

COMPONENT_MODULES = {
    "network": "Network",
    "secure_bucket": "SecureBucket",
    "topics": "AlertTopics",
    "dead_letter": "DeliveryDeadLetters",
    "observability": "Observability",
    "service_fleet": "ServiceFleet",
    "alarms": "Alarms",
}
SOURCES = sorted((PROJECT_DIR / "components").glob("*.py")) + sorted(
    (PROJECT_DIR / "stacks").glob("*.py")
)


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_resource_is_declared_inside_an_apply(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            if call.func.attr != "apply":
                continue
            for argument in call.args:
                for inner in ast.walk(argument):
                    if isinstance(inner, ast.Call):
                        assert _root(inner.func) not in {"aws", "grafana"}, (
                            f"{path.name}:{inner.lineno} declares a resource inside apply"
                        )


@pytest.mark.parametrize(("module", "name"), COMPONENT_MODULES.items())
def test_one_component_per_file_with_typed_args_and_a_namespaced_token(
    module: str, name: str
) -> None:
    loaded = importlib.import_module(f"components.{module}")
    components = [
        obj
        for obj in vars(loaded).values()
        if inspect.isclass(obj)
        and issubclass(obj, pulumi.ComponentResource)
        and obj.__module__ == loaded.__name__
    ]
    assert [c.__name__ for c in components] == [name]
    args = getattr(loaded, f"{name}Args")
    assert dataclasses.is_dataclass(args) and args.__dataclass_params__.frozen
    source = inspect.getsource(components[0].__init__)
    assert '"sre-platform:' in source and f':{name}"' in source
    (init,) = ast.parse(textwrap.dedent(source)).body
    last = init.body[-1]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
    assert ast.unparse(last.value.func) == "self.register_outputs"
