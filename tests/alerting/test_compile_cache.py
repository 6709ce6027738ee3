"""The compile cache (`sre slo compile --cache DIR` / `--incremental`): hits, misses, damage."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from alerting import cache, compiler
from alerting.compiler import Compilation, compile_inputs
from tests.alerting.helpers import ROOT, write_spec
from tests.alerting.test_cli_slo import sre

SLO = """\
  - name: {name}
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{{code=~"5..",route="/{name}"}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total{{route="/{name}"}}[{{{{.window}}}}]))
    alerting:
      name: Exchange{name}
"""


def specs(tmp_path: Path, count: int = 3) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    for index in range(count):
        write_spec(folder, SLO.format(name=f"slo{index}"), name=f"spec{index}.yaml")
    return folder


def entries(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.json"))


class Counting:
    """Counts the spec files compile_files compiles (a cache hit compiles none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real = compiler.compile_files

        def counting(spec_files, *args, **kwargs):  # type: ignore[no-untyped-def]
            spec_files = list(spec_files)
            self.paths += [f.path for f in spec_files]
            return real(spec_files, *args, **kwargs)

        monkeypatch.setattr(compiler, "compile_files", counting)

    def take(self) -> list[str]:
        paths, self.paths = self.paths, []
        return sorted(Path(p).name for p in paths)


def texts(compilation: Compilation) -> list[str]:
    assert compilation.ok, compilation.problems
    return [f.text for f in compilation.files]


def test_a_second_run_takes_every_file_from_the_cache_and_gives_the_same_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, store = specs(tmp_path), tmp_path / "cache"
    counting = Counting(monkeypatch)
    first = compile_inputs([folder], cache_dir=store)
    assert counting.take() == ["spec0.yaml", "spec1.yaml", "spec2.yaml"]
    assert len(entries(store)) == 3
    second = compile_inputs([folder], cache_dir=store)
    assert counting.take() == []
    assert texts(second) == texts(first) == texts(compile_inputs([folder]))
    assert second.slo_count == 3 and second.file_count == 3
    # A cached file's rule groups read back equal to the compiled ones.
    assert [f.rule_groups for f in second.files] == [f.rule_groups for f in first.files]


@pytest.mark.parametrize(
    ("change", "recompiled"),
    [
        pytest.param(
            lambda folder: (folder / "spec1.yaml").write_text(
                (folder / "spec1.yaml").read_text().replace("99.9", "99.5")
            ),
            ["spec1.yaml"],
            id="a changed file is compiled again, and only it",
        ),
        pytest.param(
            lambda folder: (folder / "spec3.yaml").write_text(
                (folder / "spec2.yaml").read_text().replace("slo2", "slo3")
            ),
            ["spec3.yaml"],
            id="a new file is compiled, the others come from the cache",
        ),
        pytest.param(
            lambda folder: os.utime(folder / "spec0.yaml", (1, 1)),
            [],
            id="a touched file with the same content is a hit",
        ),
    ],
)
def test_only_what_changed_is_compiled_again(
    change: Callable[[Path], object],
    recompiled: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, store = specs(tmp_path), tmp_path / "cache"
    compile_inputs([folder], cache_dir=store)
    counting = Counting(monkeypatch)
    change(folder)
    cached = compile_inputs([folder], cache_dir=store)
    assert counting.take() == recompiled
    assert texts(cached) == texts(compile_inputs([folder]))


@pytest.mark.parametrize(
    ("options", "recompiled"),
    [
        pytest.param({"mode": "efficient"}, 3, id="another mode misses"),
        pytest.param({"period": "28d"}, 3, id="another period misses"),
        pytest.param({"extra_labels": {"env": "prod"}}, 3, id="another extra label misses"),
        pytest.param({}, 0, id="the same options hit"),
    ],
)
def test_options_that_change_the_output_are_part_of_the_key(
    options: dict, recompiled: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, store = specs(tmp_path), tmp_path / "cache"
    compile_inputs([folder], cache_dir=store)
    counting = Counting(monkeypatch)
    cached = compile_inputs([folder], cache_dir=store, **options)
    assert len(counting.take()) == recompiled
    assert texts(cached) == texts(compile_inputs([folder], **options))


def test_a_new_compiler_version_invalidates_every_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, store = specs(tmp_path), tmp_path / "cache"
    compile_inputs([folder], cache_dir=store)
    monkeypatch.setattr(compiler, "generator_version", lambda: "sre-platform-99.0.0")
    counting = Counting(monkeypatch)
    cached = compile_inputs([folder], cache_dir=store)
    assert len(counting.take()) == 3
    assert "sloth_version: sre-platform-99.0.0" in texts(cached)[0]


def test_a_change_to_the_compiler_source_changes_the_key(tmp_path: Path) -> None:
    package = tmp_path / "alerting"
    shutil.copytree(cache.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    digest = cache.compiler_digest.__wrapped__  # uncached
    original = cache.PACKAGE
    try:
        cache.PACKAGE = package
        before = digest("v")
        (package / "generate.py").write_text(
            (package / "generate.py").read_text() + "\n# changed\n"
        )
        assert digest("v") != before
    finally:
        cache.PACKAGE = original


def _damage_rules(path: Path) -> None:
    path.with_suffix(".rules.yaml").write_text("groups: []\n")


def _damage_json(path: Path) -> None:
    path.write_text("{not json")


def _truncate_rules(path: Path) -> None:
    rules = path.with_suffix(".rules.yaml")
    rules.write_bytes(rules.read_bytes()[:100])


def _wrong_key(path: Path) -> None:
    document = json.loads(path.read_text())
    document["key"] = "0" * 64
    path.write_text(json.dumps(document))


def _wrong_format(path: Path) -> None:
    document = json.loads(path.read_text())
    document["format"] = 0
    path.write_text(json.dumps(document))


def _bad_ids(path: Path) -> None:
    document = json.loads(path.read_text())
    document["ids"] = [["only-one"]]
    path.write_text(json.dumps(document))


def _not_utf8(path: Path) -> None:
    path.with_suffix(".rules.yaml").write_bytes(b"\xff\xfe")


def _rules_missing(path: Path) -> None:
    path.with_suffix(".rules.yaml").unlink()


def _folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_damage_rules, id="rules edited after the fact (SHA-256 differs) are ignored"),
        pytest.param(_truncate_rules, id="truncated rules are ignored"),
        pytest.param(_damage_json, id="a document that is not JSON is ignored"),
        pytest.param(_wrong_key, id="a document of another key is ignored"),
        pytest.param(_wrong_format, id="a document of another format is ignored"),
        pytest.param(_bad_ids, id="a document with malformed ids is ignored"),
        pytest.param(_not_utf8, id="rules that are not UTF-8 are ignored"),
        pytest.param(_rules_missing, id="an entry without its rules is ignored"),
    ],
)
def test_a_damaged_entry_is_ignored_and_rewritten(
    damage: Callable[[Path], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, store = specs(tmp_path, 1), tmp_path / "cache"
    good = texts(compile_inputs([folder], cache_dir=store))
    (document,) = entries(store)
    damage(document)
    counting = Counting(monkeypatch)
    assert texts(compile_inputs([folder], cache_dir=store)) == good
    assert counting.take() == ["spec0.yaml"]
    # Rewritten: the next run is a hit again.
    assert texts(compile_inputs([folder], cache_dir=store)) == good
    assert counting.take() == []


def test_an_entry_that_cannot_be_replaced_is_ignored_and_the_compile_goes_on(
    tmp_path: Path,
) -> None:
    folder, store = specs(tmp_path, 1), tmp_path / "cache"
    good = texts(compile_inputs([folder], cache_dir=store))
    (document,) = entries(store)
    _folder_instead(document)
    assert texts(compile_inputs([folder], cache_dir=store)) == good
    assert not list(store.rglob("*.tmp")), "no temporary file is left behind"


def test_a_cache_that_cannot_be_written_does_not_fail_the_compile(tmp_path: Path) -> None:
    folder = specs(tmp_path, 1)
    blocker = tmp_path / "cache"
    blocker.write_text("a file, not a folder")
    assert texts(compile_inputs([folder], cache_dir=blocker)) == texts(compile_inputs([folder]))


def test_a_file_with_errors_is_never_cached_and_ids_are_checked_across_cached_files(
    tmp_path: Path,
) -> None:
    folder, store = specs(tmp_path, 2), tmp_path / "cache"
    compile_inputs([folder], cache_dir=store)
    assert len(entries(store)) == 2
    write_spec(folder, SLO.format(name="slo0"), name="spec9.yaml")  # a duplicate id
    (folder / "bad.yaml").write_text("version: prometheus/v1\nservice: x\nslos: [{name: 1}]\n")
    compilation = compile_inputs([folder], cache_dir=store)
    assert not compilation.ok
    messages = " ".join(str(p) for p in compilation.problems)
    assert "bad.yaml" in messages and "exchange-slo0" in messages
    cached_sources = {json.loads(p.read_text())["source"] for p in entries(store)}
    assert not any(source.endswith("bad.yaml") for source in cached_sources)


def test_warnings_of_a_cached_file_are_reported_again(tmp_path: Path) -> None:
    body = """\
  - name: raw
    objective: 99
    sli:
      raw:
        error_ratio_query: sum(rate(bad_total[{{.window}}])) / sum(rate(all_total[{{.window}}]))
    alerting:
      name: ExchangeRaw
"""
    path = write_spec(tmp_path, body)
    store = tmp_path / "cache"
    first = compile_inputs([path], cache_dir=store, mode="efficient")
    second = compile_inputs([path], cache_dir=store, mode="efficient")
    assert [p.severity for p in first.problems] == ["warning"]
    assert second.problems == first.problems


# --- the command line ------------------------------------------------------------------------


def test_sre_slo_compile_with_a_cache_writes_the_same_rules(tmp_path: Path) -> None:
    store = tmp_path / "cache"
    plain = sre("slo", "compile", "-i", "slo_specs")
    first = sre("slo", "compile", "-i", "slo_specs", "--cache", store)
    second = sre("slo", "compile", "-i", "slo_specs", "--cache", store)
    assert plain.returncode == first.returncode == second.returncode == 0, second.stderr
    assert plain.stdout == first.stdout == second.stdout
    assert entries(store)


def test_incremental_uses_dot_cache_under_the_working_folder(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "slo_specs", tmp_path / "slo_specs")
    result = sre("slo", "compile", "-i", "slo_specs", "--incremental", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert entries(tmp_path / ".cache" / "sre-slo")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--cache", "CACHE", "--incremental"],
            "--cache and --incremental: give one",
            id="--cache with --incremental is a usage error",
        ),
        pytest.param(
            ["--cache", "slo_specs/exchange.yaml"],
            "not a folder",
            id="a --cache that is a file is a usage error",
        ),
        pytest.param(
            ["--cache", "slo_specs/cache"],
            "--cache",
            id="a --cache inside an input folder is a usage error",
        ),
    ],
)
def test_bad_cache_options_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    args = [str(tmp_path / "c") if a == "CACHE" else a for a in args]
    result = sre("slo", "compile", "-i", "slo_specs", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (ROOT / "slo_specs" / "cache").exists()
