"""Reading YAML a person wrote, within limits: a hostile or broken file gets a clear error
naming the file, never a hang, a traceback or megabytes of output.

Every config file of sre-platform (SLO specs, stack configs, the error-budget policy) is read
here. Limits: the file's size, its number of documents, and the number of nodes once aliases are
expanded (a "billion laughs" file of a few hundred bytes expands to millions), plus the nesting
depth. Aliases themselves are fine: anchors for shared labels stay usable.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sre_platform.errors import InputFileError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlLimits:
    """How much one YAML file may hold."""

    max_bytes: int = 16 * 1024 * 1024
    max_documents: int = 1000
    max_nodes: int = 2_000_000  # per file, counting what every alias expands to
    max_depth: int = 64


DEFAULT_LIMITS = YamlLimits()


def _mark(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)


def _expanded_size(root: yaml.Node, limits: YamlLimits, source: str) -> int:
    """Nodes in ``root`` with every alias expanded, computed once per distinct node."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: (node, depth, children done?)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    on_path: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if depth > limits.max_depth:
            raise InputFileError(
                source,
                f"YAML nested deeper than {limits.max_depth} levels (line "
                f"{node.start_mark.line + 1}); a config file never needs that",
            )
        children = _children(node)
        if done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > limits.max_nodes:
                raise InputFileError(
                    source,
                    f"YAML expands to more than {limits.max_nodes:,} nodes once its aliases "
                    f"are resolved (line {node.start_mark.line + 1}); refusing to read it",
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise InputFileError(source, "YAML alias refers to a node that contains it")
        on_path.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _check_depth(root: yaml.Node, limits: YamlLimits, source: str) -> None:
    """Refuse a document nested deeper than ``limits.max_depth`` (a cheap walk, no aliases)."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise InputFileError(
                source,
                f"YAML nested deeper than {limits.max_depth} levels (line "
                f"{node.start_mark.line + 1}); a config file never needs that",
            )
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend((value, depth + 1) for _, value in node.value)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_documents(
    text: str, source: str, limits: YamlLimits = DEFAULT_LIMITS, loader_class: type = _Loader
) -> list[Any]:
    """Parse every YAML document in ``text`` (safe tags only); empty documents are dropped.

    ``loader_class``: a subclass of the safe loader with other implicit types (the SLO specs
    read numbers as YAML 1.2 does). Raises InputFileError naming ``source`` on invalid YAML or
    when a limit is exceeded.
    """
    if len(text) > limits.max_bytes:
        raise InputFileError(source, f"larger than {limits.max_bytes:,} bytes; refusing to read")
    loader = loader_class(text)
    documents: list[Any] = []
    total = 0
    # Without an anchor there is no alias: nodes are bounded by the text's size already.
    may_alias = "&" in text
    try:
        while loader.check_node():
            node = loader.get_node()
            if len(documents) >= limits.max_documents:
                raise InputFileError(
                    source, f"more than {limits.max_documents:,} YAML documents in one file"
                )
            if may_alias:
                total += _expanded_size(node, limits, source)
            else:
                _check_depth(node, limits, source)
            if total > limits.max_nodes:
                raise InputFileError(
                    source, f"YAML holds more than {limits.max_nodes:,} nodes; refusing to read"
                )
            document = loader.construct_document(node)
            if document is not None:
                documents.append(document)
    except yaml.YAMLError as error:
        raise InputFileError(source, f"invalid YAML: {_mark(error)}") from None
    except RecursionError:
        raise InputFileError(source, "YAML nested too deeply") from None
    finally:
        loader.dispose()
    return documents


def read_text(path: str | os.PathLike[str], limits: YamlLimits = DEFAULT_LIMITS) -> str:
    """The UTF-8 text of a config file; InputFileError (naming it) for anything unreadable."""
    name = Path(path).as_posix()
    try:
        # Non-blocking open: a FIFO without a writer must not hang the read; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except IsADirectoryError:
        raise InputFileError(name, "is a folder, not a file") from None
    except OSError as error:
        raise InputFileError(name, f"cannot read: {error.strerror or error}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputFileError(name, "is a folder, not a file")
        raise InputFileError(name, "is not a regular file (a device, pipe or socket)")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limits.max_bytes + 1)
        except OSError as error:
            raise InputFileError(name, f"cannot read: {error.strerror or error}") from None
    if len(data) > limits.max_bytes:
        raise InputFileError(name, f"larger than {limits.max_bytes:,} bytes; refusing to read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputFileError(
            name, f"not UTF-8 text (byte {error.start + 1}, line {line})"
        ) from None


def read_documents(path: str | os.PathLike[str], limits: YamlLimits = DEFAULT_LIMITS) -> list[Any]:
    """Read a YAML file from disk into its documents, within ``limits``."""
    return load_documents(read_text(path, limits), Path(path).as_posix(), limits)


def read_mapping(path: str | os.PathLike[str], limits: YamlLimits = DEFAULT_LIMITS) -> dict:
    """Read a config file that must hold a single mapping (an empty file is an empty mapping)."""
    name = Path(path).as_posix()
    documents = read_documents(path, limits)
    if len(documents) > 1:
        raise InputFileError(name, "expected one YAML document, found several")
    document = documents[0] if documents else {}
    if not isinstance(document, dict):
        raise InputFileError(name, f"expected a mapping at the top, found {_kind(document)}")
    return document


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
