"""Safe output: modes, non-regular targets, OS errors as OutputError, inputs never overwritten."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sre_platform.errors import OutputError
from sre_platform.files import check_not_an_input, write_atomic


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    "umask",
    [
        pytest.param(0o022, id="a new file under umask 022 is 0644, readable by a Prometheus user"),
        pytest.param(0o077, id="a new file under umask 077 is 0600"),
        pytest.param(0o002, id="a new file under umask 002 is 0664"),
    ],
)
def test_new_files_get_the_umasks_mode(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "rules.yaml", "groups: []\n")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "rules.yaml") == 0o666 & ~umask


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o755])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "rules.yaml"
    target.write_text("old\n")
    target.chmod(mode)
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert mode_of(target) == mode


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        pytest.param("/dev/full", "not a regular file", id="a device is refused, not replaced"),
        pytest.param("/dev/null", "not a regular file", id="dev null is refused"),
        pytest.param("DIR", "a folder", id="a folder is refused"),
        pytest.param(
            "FILE/rules.yaml", "FILE is a file, not a folder", id="a path under a regular file"
        ),
    ],
)
def test_targets_that_are_not_regular_files_are_refused(
    tmp_path: Path, target: str, needle: str
) -> None:
    (tmp_path / "DIR").mkdir()
    (tmp_path / "FILE").write_text("keep\n")
    path = Path(target) if target.startswith("/") else tmp_path / target
    with pytest.raises(OutputError, match=needle) as error:
        write_atomic(path, "text\n")
    assert str(path) in str(error.value)
    assert (tmp_path / "FILE").read_text() == "keep\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode), "the device node is still a device"


def test_a_read_only_folder_gives_a_clean_error_and_no_temporary_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    with pytest.raises(OutputError, match="Permission denied"):
        write_atomic(folder / "rules.yaml", "x\n")
    assert list(folder.iterdir()) == []


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "rules.yaml"
    target.write_text("good rules\n")

    def no_space(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OutputError, match="No space left on device"):
        write_atomic(target, "new rules\n" * 1000)
    assert target.read_text() == "good rules\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]


@pytest.mark.parametrize(
    ("target", "inputs", "refused"),
    [
        pytest.param(
            "spec.yaml", ["spec.yaml"], "also an input", id="output equal to an input file"
        ),
        pytest.param(
            "./sub/../spec.yaml",
            ["spec.yaml"],
            "also an input",
            id="the same file spelled differently",
        ),
        pytest.param(
            "specs/rules.yaml",
            ["specs"],
            "inside the input folder",
            id="output inside an input folder",
        ),
        pytest.param(
            "specs/deep/rules.yaml",
            ["specs"],
            "inside the input folder",
            id="output deep inside an input folder",
        ),
        pytest.param("out/rules.yaml", ["specs", "spec.yaml"], None, id="output elsewhere is fine"),
        pytest.param(
            "spec.rules.yaml", ["spec.yaml"], None, id="output beside its input file is fine"
        ),
    ],
)
def test_outputs_never_overwrite_inputs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    inputs: list[str],
    refused: str | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs" / "deep").mkdir(parents=True)
    (tmp_path / "sub").mkdir()
    (tmp_path / "spec.yaml").write_text("service: x\n")
    if refused is None:
        check_not_an_input([target], inputs)
        return
    with pytest.raises(OutputError, match=refused) as error:
        check_not_an_input([target], inputs, "-o")
    assert str(error.value).startswith(f"-o {target}")


def test_a_link_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "rules" / "all.yaml"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "current.yaml"
    link.symlink_to(Path("rules") / "all.yaml")
    write_atomic(link, "new\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"
    assert mode_of(real) == 0o640


def test_a_link_into_proc_is_refused_even_when_it_leads_to_a_regular_file(tmp_path: Path) -> None:
    # What /dev/stdout is when stdout is redirected to a file: a link to /proc/self/fd/1, which
    # stats as a regular file. Replacing it would swap the link for a file.
    out = tmp_path / "stdout.txt"
    with open(out, "w") as handle:
        link = tmp_path / "stdout-link"
        link.symlink_to(f"/proc/self/fd/{handle.fileno()}")
        assert stat.S_ISREG(link.stat().st_mode)
        with pytest.raises(OutputError, match="not a regular file"):
            write_atomic(link, "rules\n")
        assert link.is_symlink()
    assert out.read_text() == ""


def test_a_link_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OutputError, match="symbolic links"):
        write_atomic(tmp_path / "a", "x\n")
