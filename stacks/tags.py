"""AWS's rules for tags, checked in the stack config before anything reaches AWS.

From AWS's tagging documentation (the rules every service shares): at most 50 user tags per
resource; keys 1-128 and values 0-256 Unicode characters; letters, digits, spaces and
``_ . : / = + - @`` only; keys and values must not start with ``aws:`` in any case (reserved by
AWS). pulumi-aws merges the provider's ``default_tags`` into each resource's ``tags``, so the
limits apply to the merged set.
"""

from __future__ import annotations

import unicodedata

from sre_platform.text import printable

MAX_TAGS_PER_RESOURCE = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
SYMBOLS = "_.:/=+-@"
RESERVED_PREFIX = "aws:"
_SHOWN = 5  # offending characters quoted in a message


def _allowed(char: str) -> bool:
    category = unicodedata.category(char)
    return char in SYMBOLS or category[0] in "LN" or category == "Zs"


def _problem(text: str, what: str, minimum: int, maximum: int) -> str | None:
    if len(text) < minimum:
        return f"a tag {what} must not be empty"
    if len(text) > maximum:
        return f"a tag {what} has at most {maximum} characters in AWS, this one has {len(text):,}"
    bad = sorted({char for char in text if not _allowed(char)})
    if bad:
        shown = " ".join(printable(char) for char in bad[:_SHOWN])
        more = " ..." if len(bad) > _SHOWN else ""
        return (
            f"a tag {what} may hold only letters, digits, spaces and {' '.join(SYMBOLS)} "
            f"(found {shown}{more})"
        )
    if text.lower().startswith(RESERVED_PREFIX):
        return f"a tag {what} must not start with {RESERVED_PREFIX} (reserved by AWS)"
    return None


def key_problem(key: str) -> str | None:
    """Why AWS would refuse ``key`` as a tag key, or None."""
    return _problem(key, "key", 1, MAX_KEY_LENGTH)


def value_problem(value: str) -> str | None:
    """Why AWS would refuse ``value`` as a tag value, or None."""
    return _problem(value, "value", 0, MAX_VALUE_LENGTH)
