"""Artifacts: the files the fleet's instances fetch at boot, built before anything is deployed.

:func:`build_fleet_artifacts` is the one entry point. It builds the service bundle from this
project (artifacts.service), finds the upstream Prometheus and node_exporter release tarballs in
a downloads folder and checks them against their pinned SHA-256 (artifacts.downloads), and writes
the bundle, named by its content, into an output folder. The Pulumi program uploads the result
with ``aws.s3.BucketObjectv2`` before the instances start, so a first deployment boots.

Nothing is downloaded here (the build machines may have no route to the release pages); what is
missing or unpinned is reported as an :class:`ArtifactProblem` and the caller decides whether it
may pass (a preview) or not (a deployment).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from artifacts.downloads import locate, sha256_file
from artifacts.service import BundleError, build_bundle, source_root

__all__ = [
    "Artifact",
    "ArtifactProblem",
    "ArtifactSpec",
    "BundleError",
    "FleetArtifacts",
    "build_fleet_artifacts",
]

WHEELHOUSE = "wheels"  # the downloads folder's subfolder of wheels for the service bundle


@dataclass(frozen=True)
class Artifact:
    """One file the instances fetch: its bucket key, the local file, and its SHA-256 (None when
    it is not known in this run: the file is missing and nothing pins it)."""

    key: str
    path: Path
    sha256: str | None


@dataclass(frozen=True)
class ArtifactProblem:
    """Something that stops a deployment: ``what`` (prometheus, node_exporter, wheels) and why.
    ``missing``: the file or folder is not there (else its pin is wrong or absent). ``fatal``
    problems stop a preview too (a file that differs from its pin)."""

    what: str
    message: str
    missing: bool = False
    fatal: bool = False


@dataclass(frozen=True)
class ArtifactSpec:
    """What to build: the service and tool versions, pins, and the folders involved.

    ``downloads_dir`` holds the upstream release tarballs and, in ``wheels/``, the wheels of
    the service's dependencies; ``out_dir`` receives the service bundle; ``sources`` holds the
    service's modules (default: the checkout this program runs from).
    """

    out_dir: Path
    downloads_dir: Path
    service: str
    service_version: str
    prometheus_version: str
    node_exporter_version: str
    prometheus_sha256: str | None = None
    node_exporter_sha256: str | None = None
    sources: Path | None = None


@dataclass(frozen=True)
class FleetArtifacts:
    """The three files an instance installs, and what stops them from being deployed."""

    service: Artifact
    prometheus: Artifact
    node_exporter: Artifact
    problems: tuple[ArtifactProblem, ...] = ()

    def all(self) -> tuple[Artifact, ...]:
        """Every artifact, in install order."""
        return (self.service, self.node_exporter, self.prometheus)


def tool_file(tool: str, version: str) -> str:
    """The upstream release tarball's file name (Linux x86-64)."""
    return f"{tool}-{version}.linux-amd64.tar.gz"


def service_key(service: str, version: str, sha256: str) -> str:
    """Bucket key of a service bundle: by version, then by content, so a rebuilt bundle never
    replaces the one instances of the previous launch template version still fetch."""
    return f"releases/{service}/{version}/{sha256[:16]}/{service}.tar.gz"


def _write_once(folder: Path, name: str, data: bytes, digest: str) -> Path:
    """Write ``data`` (SHA-256 ``digest``) to ``folder/name`` atomically, unless it is there."""
    target = folder / name
    if target.is_file() and sha256_file(target) == digest:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target


def build_fleet_artifacts(spec: ArtifactSpec) -> FleetArtifacts:
    """Build the service bundle and locate the tool tarballs (see the module's docstring).

    Raises :class:`BundleError` when the bundle cannot be built at all, OSError when the output
    folder cannot be written.
    """
    problems: list[ArtifactProblem] = []
    wheelhouse: Path | None = spec.downloads_dir / WHEELHOUSE
    if not wheelhouse.is_dir():
        problems.append(
            ArtifactProblem(
                "wheels",
                f"{wheelhouse} is missing: the service bundle would hold no dependencies "
                "(fill it with pip download, see docs/stacks.md)",
                missing=True,
            )
        )
        wheelhouse = None
    sources = spec.sources or source_root()
    data = build_bundle(sources, spec.service, spec.service_version, wheelhouse)
    digest = hashlib.sha256(data).hexdigest()
    name = f"{spec.service}-{spec.service_version}-{digest[:16]}.tar.gz"
    path = _write_once(spec.out_dir, name, data, digest)
    service = Artifact(service_key(spec.service, spec.service_version, digest), path, digest)

    tools = {}
    for tool, version, pinned in (
        ("prometheus", spec.prometheus_version, spec.prometheus_sha256),
        ("node_exporter", spec.node_exporter_version, spec.node_exporter_sha256),
    ):
        name = tool_file(tool, version)
        found = locate(spec.downloads_dir, name, pinned)
        if found.problem:
            problems.append(ArtifactProblem(tool, found.problem, found.missing, found.fatal))
        tools[tool] = Artifact(f"tools/{name}", found.path, found.sha256)
    return FleetArtifacts(service, tools["prometheus"], tools["node_exporter"], tuple(problems))
