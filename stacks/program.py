"""The Pulumi program: read this stack's configuration, declare the environment, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from sre_platform.errors import Problem, StackConfigError
from stacks.config import StackSettings, decode_config_value, parse_settings
from stacks.environment import StackOutputs, build


def config_values(source: str) -> dict[str, Any]:
    """Every config value the engine handed to this program (full keys, decoded)."""
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    values: dict[str, Any] = {}
    problems = []
    for key in sorted(keys):
        try:
            values[key] = decode_config_value(runtime_config.get_config(key))
        except ValueError as error:
            problems.append(Problem(str(error), file=source, field=key))
    if problems:
        raise StackConfigError(problems)
    return values


def load_settings(project_dir: Path) -> StackSettings:
    """Validate the running stack's configuration, as ``sre stack render`` does."""
    stack = pulumi.get_stack()
    source = f"Pulumi.{stack}.yaml"
    values = config_values(source)
    secret = set(runtime_config.get_config_secret_keys_env())
    secret |= {key for key in values if runtime_config.is_config_secret(key)}
    return parse_settings(stack, values, project_dir=project_dir, source=source, secret_keys=secret)


def main(project_dir: Path) -> StackOutputs:
    """Declare the environment of the running stack and export its outputs."""
    outputs = build(load_settings(project_dir))
    for name, value in outputs.exports().items():
        pulumi.export(name, value)
    return outputs
