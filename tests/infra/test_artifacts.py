"""The artifacts build step: deterministic tarballs, the service bundle the fleet runs, the
pre-downloaded tool tarballs checked against their pins."""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from artifacts import ArtifactSpec, BundleError, build_fleet_artifacts
from artifacts.__main__ import main as artifacts_main
from artifacts.downloads import locate
from artifacts.service import (
    SERVICE_MODULES,
    SERVICE_REQUIREMENTS,
    build_bundle,
    bundle_entries,
    pinned_requirements,
    source_root,
    vendor,
)
from artifacts.tarball import Entry, tar_gz
from lab.procs import free_port
from tests.infra.conftest import PROJECT_DIR

PROMETHEUS = "prometheus-3.5.0.linux-amd64.tar.gz"
NODE_EXPORTER = "node_exporter-1.9.1.linux-amd64.tar.gz"


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


# --- deterministic tarballs ----------------------------------------------------------------


def test_the_same_files_give_the_same_bytes_whatever_their_order() -> None:
    files = {"a/b/run": Entry(b"#!/bin/sh\n", executable=True), "a/readme": Entry(b"hi\n")}
    first = tar_gz(files)
    assert first == tar_gz(dict(reversed(list(files.items()))))
    assert hashlib.sha256(first).digest() == hashlib.sha256(tar_gz(files)).digest()
    assert first[4:8] == b"\0\0\0\0"  # gzip header: no time stamp


def test_entries_are_sorted_owned_by_root_dated_zero_with_their_folders() -> None:
    members = _members(tar_gz({"a/b/run": Entry(b"x", executable=True), "a/c": Entry(b"y")}))
    assert [m.name for m in members] == ["a", "a/b", "a/b/run", "a/c"]
    assert all(m.mtime == 0 and m.uid == m.gid == 0 and not m.uname for m in members)
    modes = {m.name: m.mode for m in members}
    assert modes == {"a": 0o755, "a/b": 0o755, "a/b/run": 0o755, "a/c": 0o644}


def test_a_change_of_content_name_or_executable_bit_changes_the_bytes() -> None:
    base = tar_gz({"a/x": Entry(b"1")})
    assert base != tar_gz({"a/x": Entry(b"2")})
    assert base != tar_gz({"a/y": Entry(b"1")})
    assert base != tar_gz({"a/x": Entry(b"1", executable=True)})


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/etc/passwd", id="an absolute path is refused"),
        pytest.param("a/../../etc/passwd", id="a path leaving the archive is refused"),
        pytest.param("a//b", id="a path that is not normalized is refused"),
    ],
)
def test_paths_that_could_escape_or_alias_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="relative and normalized"):
        tar_gz({path: Entry(b"x")})


def test_a_path_that_is_both_a_file_and_a_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="both a file and a folder"):
        tar_gz({"a": Entry(b"x"), "a/b": Entry(b"y")})


# --- the service bundle ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return build_bundle(PROJECT_DIR, "exchange", "0.1.0")


def test_the_bundle_is_deterministic(bundle: bytes) -> None:
    assert build_bundle(PROJECT_DIR, "exchange", "0.1.0") == bundle


def test_the_bundle_holds_the_launcher_the_service_modules_and_the_pins(bundle: bytes) -> None:
    files = {m.name: m for m in _members(bundle) if m.isfile()}
    top = "exchange-0.1.0"
    assert set(files) == {
        f"{top}/bin/exchange",
        f"{top}/requirements.txt",
        *(f"{top}/app/{module}" for module in SERVICE_MODULES),
    }
    assert files[f"{top}/bin/exchange"].mode == 0o755
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        pins = tar.extractfile(f"{top}/requirements.txt").read().decode().split()
        launcher = tar.extractfile(f"{top}/bin/exchange").read().decode()
    assert pins == pinned_requirements()
    assert "--host 0.0.0.0" in launcher and '"${PORT:?PORT is not set}"' in launcher


def test_a_changed_service_module_changes_the_bundle(tmp_path: Path, bundle: bytes) -> None:
    for module in SERVICE_MODULES:
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_bytes((PROJECT_DIR / module).read_bytes())
    assert build_bundle(tmp_path, "exchange", "0.1.0") == bundle
    (tmp_path / "lab/service.py").write_bytes(
        (PROJECT_DIR / "lab/service.py").read_bytes() + b"\n# changed\n"
    )
    assert build_bundle(tmp_path, "exchange", "0.1.0") != bundle


def test_the_service_is_built_from_the_checkout_the_program_runs_from() -> None:
    assert source_root() == PROJECT_DIR


def test_a_missing_service_module_is_named(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"lab/__init__\.py: cannot read"):
        build_bundle(tmp_path, "exchange", "0.1.0")


def _imported_modules(source: bytes) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return found


def _provided(module: str, files: list[str]) -> bool:
    path = module.replace(".", "/")
    return any(f == f"{path}.py" or f.startswith(f"{path}/") for f in files)


def test_the_service_modules_import_only_the_stdlib_the_bundle_and_the_pinned_requirements() -> (
    None
):
    files = [str(f) for name in SERVICE_REQUIREMENTS for f in metadata.files(name) or ()]
    bundled = {
        m.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for m in SERVICE_MODULES
    }
    for module in SERVICE_MODULES:
        for name in _imported_modules((PROJECT_DIR / module).read_bytes()):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top == "lab":
                # `from lab import jsonlog` names a module or an attribute; either is bundled
                assert name in bundled or name.rpartition(".")[0] in bundled, (module, name)
                continue
            parent = name.rpartition(".")[0] or name
            assert _provided(name, files) or _provided(parent, files), (module, name)


# A bundle runs as the fleet runs it: the launcher, PORT set, the interpreter named by PYTHON.
@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="no /bin/sh")
def test_the_launcher_serves_health_checks_from_the_bundle(bundle: bytes, tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    root = tmp_path / "exchange-0.1.0"
    record = tmp_path / "python-args"
    wrapper = tmp_path / "python"  # records how the launcher starts Python, then starts it
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$PYTHONPATH" "$@" > {record}\nexec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "PORT": str(port), "PYTHON": str(wrapper)}
    process = subprocess.Popen(
        [str(root / "bin/exchange")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.2)
        assert status == 200, f"no health check answer (exit {process.poll()})"
    finally:
        process.terminate()
        process.wait(timeout=60)
    python_path, *args = record.read_text().splitlines()
    assert python_path == f"{root}/app:{root}/lib"
    assert args == ["-s", "-m", "lab.service", "--host", "0.0.0.0", "--port", str(port)]
    where = subprocess.run(
        [sys.executable, "-s", "-c", "import lab.service; print(lab.service.__file__)"],
        env={**env, "PYTHONPATH": python_path},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(root / "app")


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (``name`` with one module), as pip download leaves them."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{p},,\n" for p in files) + f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in {**files, f"{dist_info}/RECORD": record}.items():
            archive.writestr(member, text)
    return path


def test_dependencies_are_vendored_from_the_wheelhouse_only(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    _wheel(wheelhouse, "tinydep", "1.2.3")
    target = tmp_path / "lib"
    vendor(wheelhouse, ["tinydep==1.2.3"], target)
    assert (target / "tinydep.py").read_text() == "VERSION = '1.2.3'\n"
    with pytest.raises(BundleError, match="pip could not install") as error:
        vendor(wheelhouse, ["tinydep==9.9"], tmp_path / "other")
    assert "tinydep" in str(error.value)


def test_a_wheelhouse_without_the_pinned_requirements_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    with pytest.raises(BundleError, match="pip could not install"):
        bundle_entries(PROJECT_DIR, "exchange", "0.1.0", tmp_path / "wheels")


def test_python_m_artifacts_prints_the_pins(capsys: pytest.CaptureFixture[str]) -> None:
    assert artifacts_main(["requirements"]) == 0
    assert capsys.readouterr().out.split() == pinned_requirements()
    assert artifacts_main(["other"]) == 2


# --- pre-downloaded tool tarballs ------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("present", "pinned", "problem", "missing", "fatal"),
    [
        pytest.param(True, "own", None, False, False, id="a file matching its pin passes"),
        pytest.param(True, None, "is not pinned", False, False, id="an unpinned file is named"),
        pytest.param(True, "other", "not the pinned", False, True, id="a mismatch is fatal"),
        pytest.param(False, "own", "is missing", True, False, id="a missing file is named"),
        pytest.param(False, None, "is missing", True, False, id="missing and unpinned"),
    ],
)
def test_a_download_is_checked_against_its_pin(
    tmp_path: Path, present: bool, pinned: str | None, problem: str | None, missing: bool,
    fatal: bool,
) -> None:  # fmt: skip
    data = b"release bytes"
    if present:
        (tmp_path / PROMETHEUS).write_bytes(data)
    pin = {"own": _sha(data), "other": _sha(b"else"), None: None}[pinned]
    found = locate(tmp_path, PROMETHEUS, pin)
    assert (found.problem is None) if problem is None else (problem in found.problem)
    assert (found.missing, found.fatal) == (missing, fatal)
    assert found.sha256 == (_sha(data) if present else pin)


def test_a_pin_that_is_not_a_sha256_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        locate(tmp_path, PROMETHEUS, "ABC")


def _spec(tmp_path: Path, **pins: str | None) -> ArtifactSpec:
    return ArtifactSpec(
        out_dir=tmp_path / "out",
        downloads_dir=tmp_path / "downloads",
        service="exchange",
        service_version="0.1.0",
        prometheus_version="3.5.0",
        node_exporter_version="1.9.1",
        **pins,
    )


def test_the_build_writes_the_bundle_by_content_and_keys_it_by_version_and_hash(
    tmp_path: Path,
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / PROMETHEUS).write_bytes(b"prometheus")
    (downloads / NODE_EXPORTER).write_bytes(b"node_exporter")
    built = build_fleet_artifacts(
        _spec(
            tmp_path,
            prometheus_sha256=_sha(b"prometheus"),
            node_exporter_sha256=_sha(b"node_exporter"),
        )
    )
    service = built.service
    assert service.sha256 == _sha(service.path.read_bytes())
    assert service.path == tmp_path / "out" / f"exchange-0.1.0-{service.sha256[:16]}.tar.gz"
    assert service.key == f"releases/exchange/0.1.0/{service.sha256[:16]}/exchange.tar.gz"
    assert (built.prometheus.key, built.prometheus.sha256) == (
        f"tools/{PROMETHEUS}",
        _sha(b"prometheus"),
    )
    assert built.node_exporter.path == downloads / NODE_EXPORTER
    # Only the wheelhouse is missing: the bundle would hold no dependencies.
    assert [(p.what, p.missing, p.fatal) for p in built.problems] == [("wheels", True, False)]
    again = build_fleet_artifacts(_spec(tmp_path, prometheus_sha256=_sha(b"prometheus")))
    assert again.service == service
    assert gzip.decompress(service.path.read_bytes())  # a real gzip file


def test_every_missing_or_unpinned_download_is_reported(tmp_path: Path) -> None:
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / PROMETHEUS).write_bytes(b"prometheus")
    built = build_fleet_artifacts(_spec(tmp_path))
    problems = {p.what: p for p in built.problems}
    assert set(problems) == {"wheels", "prometheus", "node_exporter"}
    assert "is not pinned" in problems["prometheus"].message and not problems["prometheus"].missing
    assert problems["node_exporter"].missing
    assert built.node_exporter.sha256 is None
