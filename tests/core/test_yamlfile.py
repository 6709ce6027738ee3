"""Config YAML within limits: bombs, depth, size, documents and encodings get clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sre_platform.errors import InputFileError
from sre_platform.yamlfile import YamlLimits, load_documents, read_documents, read_mapping


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs" document: ``width ** levels`` strings from a few hundred bytes."""
    text = "a0: &a0 [" + ", ".join(["lol"] * width) + "]\n"
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        text += f"a{level}: &a{level} [{refs}]\n"
    return text


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param(
            laughs(8), "expands to more than", id="a billion-laughs alias bomb is refused"
        ),
        pytest.param(
            "a: &a 1\nb: " + "[" * 100 + "]" * 100,
            "nested deeper than 64",
            id="deep nesting is refused",
        ),
        pytest.param(
            "[" * 100_000 + "]" * 100_000,
            "maximum nesting depth",
            id="very deep nesting is refused",
        ),
        pytest.param("a: &a [*a]\n", "contains it", id="an alias inside its own anchor is refused"),
        pytest.param(
            "a: b: c\n",
            "invalid YAML: mapping values are not allowed in this context (line 1, column 5)",
            id="invalid YAML names line and column",
        ),
        pytest.param(
            "---\na: 1\n" * 1001, "more than 1,000 YAML documents", id="too many documents"
        ),
        pytest.param(
            "x: !!python/object:os.system {}\n",
            "invalid YAML",
            id="python tags are not constructed",
        ),
    ],
)
def test_hostile_or_broken_yaml_gets_a_clear_error(text: str, needle: str) -> None:
    with pytest.raises(InputFileError) as error:
        load_documents(text, "Pulumi.dev.yaml")
    assert str(error.value).startswith("Pulumi.dev.yaml: ")
    assert needle in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "labels: &l {team: sre}\nother: *l\n",
            [{"labels": {"team": "sre"}, "other": {"team": "sre"}}],
            id="ordinary anchors still work",
        ),
        pytest.param(laughs(3), None, id="a small alias fan-out within the limit is read"),
        pytest.param("---\n---\na: 1\n", [{"a": 1}], id="empty documents are dropped"),
    ],
)
def test_ordinary_yaml_is_read(text: str, expected: list[object] | None) -> None:
    documents = load_documents(text, "f.yaml")
    if expected is not None:
        assert documents == expected
    else:
        assert len(documents[0]["a3"]) == 9


def test_limits_are_configurable() -> None:
    with pytest.raises(InputFileError, match="more than 10 nodes"):
        load_documents("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n# &\n", "f", YamlLimits(max_nodes=10))


def test_files_larger_than_the_limit_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(InputFileError, match="larger than 1,000 bytes"):
        read_documents(path, YamlLimits(max_bytes=1000))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        pytest.param(
            b"a: \xff\xfe\n",
            "not UTF-8 text (byte 4, line 1)",
            id="non-UTF-8 bytes name their place",
        ),
        pytest.param(
            b"- 1\n- 2\n",
            "expected a mapping at the top, found a list",
            id="a list where a mapping belongs",
        ),
        pytest.param(
            b"a: 1\n---\nb: 2\n", "expected one YAML document", id="two documents where one belongs"
        ),
    ],
)
def test_read_mapping_names_the_file(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as error:
        read_mapping(path)
    assert str(error.value) == f"{path.as_posix()}: {error.value.message}"
    assert needle in error.value.message


def test_an_empty_file_is_an_empty_mapping_and_a_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    assert read_mapping(tmp_path / "empty.yaml") == {}
    with pytest.raises(InputFileError, match="is a folder"):
        read_mapping(tmp_path)
    with pytest.raises(InputFileError, match="cannot read: No such file"):
        read_mapping(tmp_path / "missing.yaml")


def test_special_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "Pulumi.dev.yaml"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="not a regular file"):
        read_mapping(fifo)  # a FIFO without a writer would block a plain open() forever
    with pytest.raises(InputFileError, match="not a regular file"):
        read_mapping("/dev/zero")
