"""Text from outside is printed as what it is, never obeyed by the terminal."""

from __future__ import annotations

import pytest

from sre_platform.text import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("P0 INC-42", "P0 INC-42", id="ordinary text is unchanged"),
        pytest.param(
            "ok\x1b[2K\x1b[1Afake ALLOWED",
            "ok\\x1b[2K\\x1b[1Afake ALLOWED",
            id="ANSI escapes are shown, not obeyed",
        ),
        pytest.param("a\rb", "a\\rb", id="a carriage return cannot overwrite the line"),
        pytest.param("a\u202eb", "a\\u202eb", id="a bidi override is shown"),
        pytest.param("line\nnext", "line\\nnext", id="newlines are escaped by default"),
        pytest.param("café ✓", "café ✓", id="printable unicode is kept"),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_newlines_can_be_kept() -> None:
    assert printable("a\nb\x07", keep_newlines=True) == "a\nb\\x07"
