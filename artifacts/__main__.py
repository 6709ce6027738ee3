"""``python -m artifacts requirements``: the service's pinned dependencies, one per line.

Feed them to ``pip download`` on a machine that reaches PyPI to fill the wheelhouse the service
bundle is built from (docs/stacks.md, "Artifacts staged by the program").
"""

from __future__ import annotations

import sys

from artifacts.service import BundleError, pinned_requirements


def main(argv: list[str]) -> int:
    """Print the pinned requirements; exit 2 on any other command line."""
    if argv != ["requirements"]:
        print("usage: python -m artifacts requirements", file=sys.stderr)
        return 2
    try:
        print("\n".join(pinned_requirements()))
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
