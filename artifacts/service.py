"""The service bundle: the demo exchange service as a tarball the fleet's instances run.

Layout (the fleet's user data unpacks it with the top folder stripped into ``/opt/<service>``)::

    <service>-<version>/bin/<service>        launcher: runs the service on 0.0.0.0:$PORT
    <service>-<version>/app/lab/...          the service's modules, from this project
    <service>-<version>/lib/...              its dependencies, installed from a wheelhouse
    <service>-<version>/requirements.txt     the pinned dependencies lib/ holds

The instances have no route to PyPI, so the dependencies travel in the bundle: pip installs them
into ``lib/`` from a folder of wheels built for the instances (CPython :data:`INSTANCE_PYTHON`
on x86-64 Linux, AL2023's ``python3.11``), which an operator fills with ``pip download``. The
interpreter itself comes from AL2023's package repositories (see the user data).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from artifacts.tarball import Entry, tar_gz
from sre_platform.errors import SreError

# The service's modules: lab.service and what it imports from the lab package.
SERVICE_MODULES = ("lab/__init__.py", "lab/jsonlog.py", "lab/service.py", "lab/spanfile.py")
SERVICE_MODULE = "lab.service"
# Distributions lab.service imports (tests check the modules import nothing else).
SERVICE_REQUIREMENTS = (
    "aiohttp",
    "opentelemetry-api",
    "opentelemetry-exporter-otlp-proto-common",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-sdk",
    "prometheus-client",
    "protobuf",
    "pydantic",
    "python-json-logger",
)
INSTANCE_PYTHON = "3.11"
# Wheel platforms AL2023 (glibc 2.34, x86-64) runs; manylinux2014 is manylinux_2_17.
INSTANCE_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
PIP_TIMEOUT_SECONDS = 600

LAUNCHER = """#!/bin/sh
# Start the {service} service from this bundle: listen on 0.0.0.0:$PORT (the load balancer's
# health checks and traffic come from inside the VPC). PYTHON names the interpreter.
set -eu
bundle=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
PYTHONPATH="$bundle/app:$bundle/lib"
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE
exec "${{PYTHON:-python{python}}}" -s -m {module} --host 0.0.0.0 --port "${{PORT:?PORT is not set}}"
"""


class BundleError(SreError):
    """The service bundle cannot be built (a missing module, pip refusing the wheelhouse)."""


def source_root() -> Path:
    """The folder holding the ``lab`` package this program runs with (the checkout)."""
    spec = importlib.util.find_spec("lab")
    if spec is None or spec.origin is None:
        raise BundleError("the lab package (the service's code) cannot be found")
    return Path(spec.origin).resolve().parents[1]


def pinned_requirements() -> list[str]:
    """The service's dependencies pinned to the versions this build environment runs."""
    pins = []
    for name in SERVICE_REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise BundleError(
                f"{name} is not installed here, so its version cannot be pinned"
            ) from None
    return pins


def vendor(wheelhouse: Path, requirements: Sequence[str], target: Path) -> None:
    """Install ``requirements`` into ``target`` from ``wheelhouse`` only, for the instances."""
    platforms = [arg for p in INSTANCE_PLATFORMS for arg in ("--platform", p)]
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-index", "--find-links", str(wheelhouse), "--only-binary=:all:", "--no-compile",
        "--target", str(target), "--implementation", "cp",
        "--python-version", INSTANCE_PYTHON, *platforms, *requirements,
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise BundleError(f"pip did not finish within {PIP_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise BundleError(
            f"pip could not install the service's dependencies from {wheelhouse}:\n{tail}"
        )


def _files(root: Path, prefix: str) -> dict[str, Entry]:
    entries = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        # Console scripts carry this machine's interpreter path; caches are rebuilt on use.
        if path.is_dir() or relative.parts[0] == "bin" or "__pycache__" in relative.parts:
            continue
        entries[f"{prefix}/{relative.as_posix()}"] = Entry(
            path.read_bytes(), executable=bool(path.stat().st_mode & 0o111)
        )
    return entries


def bundle_entries(
    sources: Path, service: str, version: str, wheelhouse: Path | None
) -> dict[str, Entry]:
    """The bundle's files (archive path -> file): the service modules found under ``sources``
    (see :func:`source_root`); ``lib/`` only when a wheelhouse is given."""
    top = f"{service}-{version}"
    requirements = pinned_requirements()
    entries = {
        f"{top}/bin/{service}": Entry(
            LAUNCHER.format(
                service=service, module=SERVICE_MODULE, python=INSTANCE_PYTHON
            ).encode(),
            executable=True,
        ),
        f"{top}/requirements.txt": Entry("".join(f"{r}\n" for r in requirements).encode()),
    }
    for module in SERVICE_MODULES:
        source = sources / module
        try:
            entries[f"{top}/app/{module}"] = Entry(source.read_bytes())
        except OSError as error:
            raise BundleError(f"{source}: cannot read: {error.strerror or error}") from None
    if wheelhouse is not None:
        with tempfile.TemporaryDirectory(prefix="sre-bundle-") as scratch:
            vendor(wheelhouse, requirements, Path(scratch))
            entries.update(_files(Path(scratch), f"{top}/lib"))
    return entries


def build_bundle(
    sources: Path, service: str, version: str, wheelhouse: Path | None = None
) -> bytes:
    """The service bundle as deterministic ``.tar.gz`` bytes (see :func:`bundle_entries`)."""
    return tar_gz(bundle_entries(sources, service, version, wheelhouse))
