"""Pulumi entry point: the stack's configuration goes to stacks/, which declares everything."""

from pathlib import Path

import pulumi

from sre_platform.errors import SreError
from stacks.program import main

try:
    main(Path(__file__).resolve().parent)
except SreError as error:  # a config or spec mistake: a message, not a traceback
    raise pulumi.RunError(str(error)) from None
