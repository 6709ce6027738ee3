"""`sre slo compile -o` and `sre slo test --keep` write safely: never over an input, never over
a device, a clean error and no partial file for every OS error, modes as the umask says.

Full disks and read-only folders are real: a tiny tmpfs mounted in a private mount namespace
(`unshare`), so nothing outside the test sees it.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sre_platform.cli import main
from tests.alerting.helpers import FIXTURES, ROOT

SRE = [sys.executable, "-c", "from sre_platform.cli import main; main()"]
SPEC = ROOT / "slo_specs" / "exchange.yaml"


def sre(*args: str | Path, umask: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SRE, *map(str, args)],
        capture_output="stdout" not in kwargs,
        text=True,
        cwd=kwargs.pop("cwd", ROOT),
        timeout=120,
        check=False,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
        **kwargs,
    )


def copy_spec(folder: Path, name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(SPEC, folder / name))


def assert_clean_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 1, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("inputs", "output", "needle"),
    [
        pytest.param(["spec.yaml"], "spec.yaml", "is also an input", id="the input file itself"),
        pytest.param(
            ["specs"], "specs/all.yaml", "inside the input folder", id="a file in an input folder"
        ),
        pytest.param(
            ["specs"],
            "specs/",
            "inside the input folder",
            id="an input folder as the output folder",
        ),
        pytest.param(
            ["specs"], "specs/sub/", "inside the input folder", id="a folder below an input folder"
        ),
        pytest.param(
            ["link.yaml"], "spec.yaml", "is also an input", id="an input reached through a link"
        ),
    ],
)
def test_compile_refuses_to_write_over_or_into_its_inputs(
    tmp_path: Path, inputs: list[str], output: str, needle: str
) -> None:
    spec = copy_spec(tmp_path)
    copy_spec(tmp_path / "specs")
    (tmp_path / "link.yaml").symlink_to(spec)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.yaml") if p.is_file()}
    args = [item for name in inputs for item in ("-i", name)]
    result = sre("slo", "compile", *args, "-o", output, cwd=tmp_path)
    assert_clean_error(result, needle)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.yaml") if p.is_file()} == before


@pytest.mark.parametrize(
    "keep",
    [
        pytest.param("spec.yaml", id="the input file as the keep folder"),
        pytest.param(".", id="the input folder as the keep folder"),
    ],
)
def test_slo_test_keep_refuses_its_inputs(tmp_path: Path, keep: str) -> None:
    copy_spec(tmp_path)
    result = sre("slo", "test", "-i", ".", "--keep", keep, cwd=tmp_path)
    assert result.returncode == 1
    assert "--keep" in result.stderr and "input" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


@pytest.mark.parametrize(
    "output",
    [
        pytest.param("/dev/full", id="a device that is always full"),
        pytest.param("/dev/null", id="a device that swallows everything"),
        pytest.param("/dev/stdout", id="stdout as a device path"),
    ],
)
def test_a_device_is_refused_as_not_a_regular_file(output: str) -> None:
    result = sre("slo", "compile", "-i", SPEC, "-o", output)
    assert_clean_error(result, f"--output {output}: not a regular file")
    assert "--output -" in result.stderr  # says how to print the rules instead
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert Path("/dev/stdout").is_symlink()


def test_a_link_into_proc_is_refused_even_when_stdout_is_a_file(tmp_path: Path) -> None:
    """As /dev/stdout is when a CI log redirects stdout to a file: never replace the link."""
    link = tmp_path / "stdout-link"
    link.symlink_to("/proc/self/fd/1")
    log = tmp_path / "log.txt"
    with log.open("w") as stdout:
        result = sre(
            "slo", "compile", "-i", SPEC, "-o", link, stdout=stdout, stderr=subprocess.PIPE
        )
    assert result.returncode == 1
    assert "not a regular file" in result.stderr
    assert link.is_symlink()
    assert log.read_text() == ""


def test_dash_prints_the_rules_on_stdout(tmp_path: Path) -> None:
    result = sre("slo", "compile", "-i", SPEC, "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == sre("slo", "compile", "-i", SPEC).stdout
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_without_suffix_is_a_file_target(tmp_path: Path) -> None:
    target = tmp_path / "rules"
    target.write_text("old\n")
    result = sre("slo", "compile", "-i", SPEC, "-o", target)
    assert result.returncode == 0, result.stderr
    assert target.read_text().startswith("# Code generated by sre-platform")


@pytest.mark.parametrize(
    "output",
    [
        pytest.param("afile/rules.yaml", id="a file target under a regular file"),
        pytest.param("afile/out/", id="a folder target under a regular file"),
    ],
)
def test_an_output_under_a_regular_file_is_a_clean_error(tmp_path: Path, output: str) -> None:
    (tmp_path / "afile").write_text("not a folder\n")
    result = sre("slo", "compile", "-i", SPEC, "-o", output, cwd=tmp_path)
    assert_clean_error(result, "afile")
    assert (tmp_path / "afile").read_text() == "not a folder\n"


def test_a_linked_output_is_written_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.rules.yaml"
    link = tmp_path / "link.rules.yaml"
    link.symlink_to(real)
    assert sre("slo", "compile", "-i", SPEC, "-o", link).returncode == 0
    assert link.is_symlink()
    assert real.read_text().startswith("# Code generated")


@pytest.mark.parametrize(
    ("umask", "mode"),
    [
        pytest.param(0o022, 0o644, id="umask 022 gives 0644"),
        pytest.param(0o027, 0o640, id="027 gives 0640"),
    ],
)
@pytest.mark.parametrize("target", ["rules.yaml", "out/"])
def test_new_files_get_the_umasks_mode(tmp_path: Path, umask: int, mode: int, target: str) -> None:
    result = sre("slo", "compile", "-i", SPEC, "-o", target, umask=umask, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (
        tmp_path / "rules.yaml"
        if target == "rules.yaml"
        else tmp_path / "out" / "exchange.rules.yaml"
    )
    assert stat.S_IMODE(written.stat().st_mode) == mode


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o664])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "rules.yaml"
    target.write_text("old\n")
    target.chmod(mode)
    result = sre("slo", "compile", "-i", SPEC, "-o", target, umask=0o077)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_text().startswith("# Code generated")


# --- real full and read-only file systems ------------------------------------------------


def _can_unshare() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=16k tmpfs /mnt 2>/dev/null || "
            "mount -t tmpfs -o size=16k tmpfs /tmp",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


needs_tmpfs = pytest.mark.skipif(
    not _can_unshare(), reason="needs `unshare -rm` to mount a private tmpfs"
)


def in_private_tmpfs(tmp_path: Path, options: str, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with a tmpfs mounted at $DISK, in a mount namespace of its own."""
    disk = tmp_path / "disk"
    disk.mkdir()
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o "{options}" tmpfs "$DISK" && {script}'],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={
            **os.environ,
            "DISK": str(disk),
            "OUT": str(tmp_path),
            "SRE": f"{sys.executable} -c 'from sre_platform.cli import main; main()'",
        },
    )


@needs_tmpfs
def test_a_full_disk_is_a_clean_error_and_the_good_rules_file_survives(tmp_path: Path) -> None:
    # The exchange rules (28 KB) fit in 40 KB; every spec merged (130 KB) does not.
    script = (
        'eval "$SRE slo compile -i slo_specs -o $DISK/rules.yaml" && cp $DISK/rules.yaml $OUT/good;'
        f' eval "$SRE slo compile -i slo_specs -i {FIXTURES} -o $DISK/rules.yaml'
        ' --output-format rules";'
        " echo $? > $OUT/rc; ls -A $DISK > $OUT/files; cp $DISK/rules.yaml $OUT/after"
    )
    result = in_private_tmpfs(tmp_path, "size=40k", script)
    assert (tmp_path / "rc").read_text().strip() == "1", result.stderr
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "after").read_bytes() == (tmp_path / "good").read_bytes()
    assert (tmp_path / "files").read_text().split() == ["rules.yaml"]  # no temporary file left


@needs_tmpfs
@pytest.mark.parametrize("target", ["rules.yaml", "out/"])
def test_a_read_only_folder_is_a_clean_error_and_the_good_file_survives(
    tmp_path: Path, target: str
) -> None:
    script = (
        'eval "$SRE slo compile -i slo_specs -o $DISK/rules.yaml" && mkdir $DISK/out'
        ' && mount -o remount,ro "$DISK"'
        f' && eval "$SRE slo compile -i slo_specs -o $DISK/{target}"; echo $? > $OUT/rc;'
        " ls -A $DISK $DISK/out > $OUT/files; head -c 40 $DISK/rules.yaml > $OUT/head"
    )
    result = in_private_tmpfs(tmp_path, "size=1m", script)
    assert (tmp_path / "rc").read_text().strip() == "1", result.stderr
    assert "Read-only file system" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "head").read_text().startswith("# Code generated")


def test_a_failing_write_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same path without a tmpfs: the disk fills up at the final flush."""
    target = tmp_path / "rules.yaml"
    target.write_text("good\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    monkeypatch.setattr(sys, "argv", ["sre", "slo", "compile", "-i", str(SPEC), "-o", str(target)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    assert "No space left on device" in capsys.readouterr().err
    assert target.read_text() == "good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.yaml"]
