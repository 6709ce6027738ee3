"""The Pulumi program: read this stack's configuration, declare the environment, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from stacks.config import StackSettings, decode_config_value, parse_settings
from stacks.environment import StackOutputs, build


def config_values() -> dict[str, Any]:
    """Every config value the engine handed to this program (full keys, decoded)."""
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {key: decode_config_value(runtime_config.get_config(key)) for key in sorted(keys)}


def load_settings() -> StackSettings:
    """Validate the running stack's configuration."""
    return parse_settings(pulumi.get_stack(), config_values())


def main(project_dir: Path | None = None) -> StackOutputs:
    """Declare the environment of the running stack and export its outputs."""
    outputs = build(load_settings(), project_dir or Path.cwd())
    for name, value in outputs.exports().items():
        pulumi.export(name, value)
    return outputs
