"""`sre budget gate` and `status` against a hostile Prometheus (tests/budget/hostile.py): impossible
values, wrong shapes, answers that drip, never end or are huge, and escapes in what it says.
Each ends in a clear answer: the gate cannot decide (exit 4) naming the URL and the reason, or
the policy's on_missing_data decides; never a traceback, a hang or raw escapes in a CI log.

The deadline tests give `--timeout 2` against answers that would take hours: without a real
deadline the command runs into this test's own generous limit and fails.

The tables run the `sre` entry point in this process (``cli``: the same main(), argument
parsing, exit codes and output, without a cold start per case); a few tests run the installed
console script as CI does (``sre``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import yaml
from typer.testing import CliRunner

from sre_platform.cli import main
from sre_platform.errors import PrometheusError
from sre_platform.prometheus import Limits, PrometheusClient
from tests.budget import hostile
from tests.budget.hostile import HostileServer, slo_series, vector

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "ops" / "error-budget-policy.yaml"
SRE = Path(sys.executable).with_name("sre")
COMMAND_LIMIT_SECONDS = 120  # far above any deadline used here; only a hang reaches it


def sre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SRE), "budget", *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_LIMIT_SECONDS,
        cwd=ROOT,
    )


_IN_PROCESS = threading.Lock()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `sre budget ARGS` through the console script's main() in this process."""
    argv = ["sre", "budget", *args]
    with (
        _IN_PROCESS,
        contextlib.chdir(ROOT),
        CliRunner().isolation() as (stdout, stderr, _),
        mock.patch.object(sys, "argv", argv),
    ):
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
    return subprocess.CompletedProcess(argv, code, out, err)


def strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def clean(result: subprocess.CompletedProcess[str]) -> None:
    """Nothing escapes into the terminal or CI log, and nothing crashed."""
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream
        assert "Traceback" not in stream


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with hostile.hostile_server() as running:
        yield running


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/"


def _policy_file(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _one(value: str) -> dict:
    return vector(slo_series(budget=value))


NOT_A_VECTOR = "sent an answer that is not an instant vector"
TOO_BIG = "sent an answer larger than 10,485,760 bytes (the size limit); refusing to read it"
LATE = "gave no complete answer within the 2 s deadline (--timeout)"
BAD_VALUE = "a sample value must be a number as Prometheus writes it"

# (behaviour, extra arguments, expected text), each ending in "cannot decide".
CANNOT_DECIDE = [
    pytest.param(
        hostile.send_json(vector(slo_series(budget="+Inf"))),
        [],
        "slo:period_error_budget_remaining:ratio is +Inf (not a finite number)",
        id="budget remaining +Inf is impossible, not a reason to ship",
    ),
    pytest.param(
        hostile.send_json(vector(slo_series(budget="1e308"))),
        [],
        "slo:period_error_budget_remaining:ratio is 1e+308 (above 1",
        id="budget remaining 1e308 is impossible",
    ),
    pytest.param(
        hostile.send_json(vector(slo_series(budget="5"))),
        [],
        "slo:period_error_budget_remaining:ratio is 5 (above 1: no budget has more than 100% left)",
        id="budget remaining 500% is impossible",
    ),
    pytest.param(
        hostile.send_json(vector(slo_series(burn="-3"))),
        [],
        "slo:current_burn_rate:ratio is -3 (negative: a burn rate is 0 or more)",
        id="a negative burn rate is impossible",
    ),
    pytest.param(
        hostile.send_json(vector(slo_series(objective="99.9"))),
        [],
        "slo:objective:ratio is 99.9 (not a ratio in (0, 1]: a percentage?",
        id="an objective of 99.9 is a percentage, not a ratio",
    ),
    pytest.param(
        hostile.send_json(vector(slo_series(error_1d="7"))),
        [],
        "slo:sli_error:ratio_rate1d is 7 (not an error ratio in [0, 1])",
        id="an error ratio of 700% is impossible",
    ),
    pytest.param(
        hostile.send_json(vector(slo_series(budget="-Inf"))),
        [],
        "slo:period_error_budget_remaining:ratio is -Inf (not a finite number)",
        id="budget remaining -Inf is impossible although negative budgets exist",
    ),
    pytest.param(
        hostile.send_json(
            {"status": "error", "errorType": "bad_data", "error": "parse error"}, 400
        ),
        [],
        "answered HTTP 400 to",
        id="an HTTP error names the status and Prometheus' reason",
    ),
    pytest.param(
        hostile.send_bytes(b"<html>bad gateway</html>", 502, {"content-type": "text/html"}),
        [],
        "answered HTTP 502 to",
        id="a proxy's HTML error page is an HTTP error",
    ),
    pytest.param(
        hostile.send_json({"status": "error", "errorType": "timeout", "error": "query timed out"}),
        [],
        "refused '{__name__",
        id="an error status in a 200 answer is Prometheus refusing the query",
    ),
    pytest.param(
        hostile.send_json({"status": "success", "data": {"resultType": "matrix", "result": []}}),
        [],
        f"{NOT_A_VECTOR}: data.resultType: Input should be 'vector'",
        id="a matrix is not an instant vector",
    ),
    pytest.param(
        hostile.send_json({"status": "success"}),
        [],
        f"{NOT_A_VECTOR}: data: Field required",
        id="an answer without data is not an instant vector",
    ),
    pytest.param(
        hostile.send_json({"status": "success", "data": {"resultType": "vector", "result": {}}}),
        [],
        f"{NOT_A_VECTOR}: data.result: Input should be a valid list",
        id="a result that is not a list is not an instant vector",
    ),
    pytest.param(
        hostile.send_json([1, 2, 3]),
        [],
        NOT_A_VECTOR,
        id="a JSON list is not an instant vector",
    ),
    pytest.param(
        hostile.send_json(vector([{"metric": {"sloth_service": 5}, "value": [1, "0.5"]}])),
        [],
        f"{NOT_A_VECTOR}: data.result[0].metric.sloth_service: Input should be a valid string",
        id="a label value that is not a string is refused",
    ),
    pytest.param(
        hostile.send_json(vector([{"metric": {}, "value": [1, 0.5]}])),
        [],
        BAD_VALUE,
        id="a sample value that is a JSON number, not a string, is refused",
    ),
    pytest.param(
        hostile.send_json(vector([{"metric": {}, "value": [1, "Infinity"]}])),
        [],
        BAD_VALUE,
        id="a sample value Prometheus never writes is refused",
    ),
    pytest.param(
        hostile.send_json(vector([{"metric": {}, "value": [1, "1_000"]}])),
        [],
        BAD_VALUE,
        id="a sample value with Python's digit separators is refused",
    ),
    pytest.param(
        hostile.send_json(vector([{"metric": {}, "value": [1]}])),
        [],
        NOT_A_VECTOR,
        id="a sample without a value is refused",
    ),
    pytest.param(
        hostile.send_bytes(b"<html>hello</html>", headers={"content-type": "text/html"}),
        [],
        f"{NOT_A_VECTOR}: not JSON",
        id="an HTML page is not JSON",
    ),
    pytest.param(hostile.send_bytes(b""), [], f"{NOT_A_VECTOR}: not JSON", id="an empty body"),
    pytest.param(
        hostile.send_bytes(b"[" * 200_000),
        [],
        f"{NOT_A_VECTOR}: not JSON",
        id="JSON nested 200,000 deep is refused without a crash",
    ),
    pytest.param(
        hostile.send_bytes(b"\xff\xfe\x00garbage"),
        [],
        f"{NOT_A_VECTOR}: not JSON",
        id="bytes that are not UTF-8 are not JSON",
    ),
    pytest.param(
        hostile.drip(0.5), ["--timeout", "2"], LATE, id="a body dripping a byte every 0.5 s"
    ),
    pytest.param(
        hostile.stall_before_headers(),
        ["--timeout", "2"],
        LATE,
        id="a server that accepts and never answers",
    ),
    pytest.param(hostile.endless(), [], TOO_BIG, id="a body that never ends"),
    pytest.param(hostile.declared_huge(), [], TOO_BIG, id="a body announced as 50 MB"),
    pytest.param(hostile.gzip_bomb(), [], TOO_BIG, id="a gzip body expanding to 64 MB"),
    pytest.param(
        hostile.send_bytes(b"not gzip at all", headers={"content-encoding": "gzip"}),
        [],
        "sent an answer that cannot be decoded",
        id="a body that claims to be gzip but is not",
    ),
]


@pytest.mark.parametrize(("behaviour", "args", "expected"), CANNOT_DECIDE)
def test_the_gate_cannot_decide_on_a_hostile_answer(
    server: HostileServer, behaviour, args: list[str], expected: str
) -> None:
    url = server.url(behaviour)
    result = cli("gate", "--prometheus", url, *args)
    clean(result)
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stdout.startswith("release gate: CANNOT DECIDE (exit 4)")
    [reason] = [line for line in result.stdout.splitlines() if expected in line]
    subject = "svc/availability" if "ratio" in expected else f"all services: on_missing_data: {url}"
    assert subject in reason or f"Prometheus at {url} " in reason
    as_json = cli("gate", "--prometheus", url, "--json", *args)
    assert as_json.returncode == 4, as_json.stderr
    document = strict_json(as_json.stdout)
    assert (document["outcome"], document["decision"], document["exit_code"]) == (
        "cannot decide",
        "deny",
        4,
    )
    assert any(expected in problem["message"] for problem in document["problems"])
    assert "Reading error budgets from" in as_json.stderr


@pytest.mark.parametrize(
    ("behaviour", "args", "expected"),
    [case for case in CANNOT_DECIDE if "ratio" not in str(case.values[2])],
)
def test_status_cannot_decide_on_a_hostile_answer(
    server: HostileServer, behaviour, args: list[str], expected: str
) -> None:
    result = cli("status", "--prometheus", server.url(behaviour), "--json", *args)
    clean(result)
    assert result.returncode == 4, result.stderr
    assert expected in result.stderr
    document = strict_json(result.stdout)
    assert document["exit_code"] == 4
    assert document["slos"] == []
    [problem] = document["problems"]
    assert expected in problem["message"]
    assert (problem["subject"], problem["clause"], problem["release"]) == (
        "all services",
        None,
        None,
    )


def test_the_policy_decides_what_an_impossible_value_means(
    server: HostileServer, tmp_path: Path
) -> None:
    url = server.url(hostile.send_json(vector(slo_series(budget="+Inf"))))
    policy = _policy_file(tmp_path, on_missing_data="allow")
    result = sre("gate", "--prometheus", url, "--policy", str(policy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note       svc/availability: on_missing_data: impossible values" in result.stdout


def test_an_override_passes_a_p0_fix_while_prometheus_drips(server: HostileServer) -> None:
    url = server.url(hostile.drip(0.5))
    result = sre("gate", "--prometheus", url, "--timeout", "2", "--override-reason", "P0 INC-9")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("release gate: ALLOWED BY OVERRIDE (exit 0)")
    assert LATE in result.stdout


def test_status_shows_impossible_values_in_the_table(server: HostileServer) -> None:
    url = server.url(hostile.send_json(vector(slo_series(objective="99.9"))))
    result = sre("status", "--prometheus", url)
    clean(result)
    assert result.returncode == 0, result.stderr
    [row] = [line for line in result.stdout.splitlines() if line.startswith("│ svc ")]
    assert [cell.strip() for cell in row.split("│")[1:6]] == [
        "svc",
        "availability",
        "impossible",
        "90.0%",
        "0.50x",
    ]
    assert "slo:objective:ratio is 99.9" in result.stdout
    document = strict_json(sre("status", "--prometheus", url, "--json").stdout)
    [slo] = document["slos"]
    assert slo["impossible"][0]["series"] == "slo:objective:ratio"
    assert document["problems"][0]["subject"] == "svc/availability"


def test_status_and_gate_cannot_decide_without_prometheus() -> None:
    url = _closed_port_url()
    for verb in ("gate", "status"):
        result = sre(verb, "--prometheus", url, "--json")
        assert result.returncode == 4, result.stderr
        document = strict_json(result.stdout)
        assert f"Prometheus at {url} is unreachable" in document["problems"][0]["message"]


# --- escapes ---------------------------------------------------------------------------------


def test_escapes_in_label_values_are_shown_not_obeyed(server: HostileServer) -> None:
    items = slo_series(service="\x1b[31mred\x1b[0m[/bold]", slo="a\x1b]0;title\x07b")
    url = server.url(hostile.send_json(vector(items)))
    gate = sre("gate", "--prometheus", url)
    clean(gate)
    assert "\\x1b[31mred\\x1b[0m[/bold]/a\\x1b]0;title\\x07b" in gate.stdout
    status = sre("status", "--prometheus", url)
    clean(status)
    assert status.returncode == 0, status.stderr
    assert "[/bold]" in status.stdout  # shown as text, never read as rich markup
    document = strict_json(sre("gate", "--prometheus", url, "--json").stdout)
    assert document["slos"][0]["service"] == "\x1b[31mred\x1b[0m[/bold]"


def test_escapes_in_prometheus_error_messages_are_shown_not_obeyed(server: HostileServer) -> None:
    answer = {"status": "error", "errorType": "x", "error": "\x1b[2J\x1b[Hall clear"}
    url = server.url(hostile.send_json(answer, 422))
    gate = sre("gate", "--prometheus", url)
    clean(gate)
    assert "\\x1b[2J\\x1b[Hall clear" in gate.stdout
    status = sre("status", "--prometheus", url)
    clean(status)
    assert "\\x1b[2J\\x1b[Hall clear" in status.stderr


def test_an_override_reason_is_printed_escaped_and_recorded_as_given(server: HostileServer) -> None:
    url = server.url(hostile.send_json(vector(slo_series(budget="-0.5"))))
    reason = "P0 INC-1\x1b[2K\r\x1b[32mALLOWED (exit 0)"
    result = sre("gate", "--prometheus", url, "--override-reason", reason)
    clean(result)
    assert result.returncode == 0
    assert (
        'override reason (recorded): "P0 INC-1\\x1b[2K\\r\\x1b[32mALLOWED (exit 0)"'
        in result.stdout
    )
    document = strict_json(
        sre("gate", "--prometheus", url, "--override-reason", reason, "--json").stdout
    )
    assert document["override_reason"] == reason
    assert document["outcome"] == "allowed by override"


def test_escapes_in_the_policy_are_shown_not_obeyed(server: HostileServer, tmp_path: Path) -> None:
    url = server.url(hostile.send_json(vector(slo_series(budget="-0.5"))))
    policy = _policy_file(
        tmp_path, escalation=[{"role": "on-call\x1b[8m", "contact": "#sre\x1b]8;;x\x07"}]
    )
    result = sre("gate", "--prometheus", url, "--policy", str(policy))
    clean(result)
    assert "escalate to: on-call\\x1b[8m #sre\\x1b]8;;x\\x07" in result.stdout


def test_a_service_name_with_escapes_is_shown_not_obeyed(server: HostileServer) -> None:
    url = server.url(hostile.send_json(vector([])))
    for verb in ("gate", "status"):
        result = sre(verb, "--prometheus", url, "--service", "x\x1b[2J")
        clean(result)
        assert result.returncode == 4
        assert 'for service "x\\x1b[2J"' in result.stdout + result.stderr


# --- the command line and the policy file -----------------------------------------------------


@pytest.mark.parametrize("verb", ["gate", "status"])
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["--prometheus", "http//x"],
            "Invalid value for '--prometheus': 'http//x' is not an http(s) URL",
            id="a URL without its colon",
        ),
        pytest.param(
            ["--prometheus", "ftp://x"], "'ftp://x' is not an http(s) URL", id="an ftp URL"
        ),
        pytest.param(
            ["--prometheus", "http://[::1"],
            "Invalid value for '--prometheus': 'http://[::1' is not a URL",
            id="an unclosed IPv6 host",
        ),
        pytest.param(
            ["--prometheus", ""],
            "Invalid value for '--prometheus': '' is not an http(s) URL",
            id="an empty URL",
        ),
        pytest.param(
            ["--prometheus", "http://x:99999"],
            "Invalid value for '--prometheus'",
            id="a port out of range",
        ),
        pytest.param(
            ["--prometheus", "http://x/?q=1"],
            "takes no query string or fragment",
            id="a URL with a query string",
        ),
        pytest.param(
            ["--prometheus", "http://x", "--timeout", "0"],
            "Invalid value for '--timeout': 0.0 is not a number of seconds above 0",
            id="a zero deadline",
        ),
        pytest.param(
            ["--prometheus", "http://x", "--timeout", "-5"],
            "Invalid value for '--timeout'",
            id="a negative deadline",
        ),
        pytest.param(
            ["--prometheus", "http://x", "--timeout", "nan"],
            "Invalid value for '--timeout': nan",
            id="a NaN deadline",
        ),
        pytest.param(
            ["--prometheus", "http://x", "--timeout", "inf"],
            "Invalid value for '--timeout': inf",
            id="an infinite deadline",
        ),
        pytest.param(
            ["--prometheus", "http://x", "--timeout", "3601"],
            "at most 3600",
            id="a deadline over an hour",
        ),
        pytest.param(
            ["--prometheus", "http://x", "--timeout", "soon"],
            "Invalid value for '--timeout'",
            id="a deadline that is not a number",
        ),
    ],
)
def test_usage_errors_exit_2_naming_the_option(verb: str, args: list[str], expected: str) -> None:
    result = cli(verb, *args)
    clean(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in " ".join(result.stderr.split())


@pytest.mark.parametrize("reason", ["", "   "], ids=["an empty override reason", "a blank one"])
def test_an_override_without_a_reason_is_a_usage_error(reason: str) -> None:
    result = cli("gate", "--prometheus", _closed_port_url(), "--override-reason", reason)
    assert result.returncode == 2
    assert "Invalid value for '--override-reason': needs a reason" in result.stderr


@pytest.mark.parametrize("verb", ["gate", "status"])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            b"version: 1\nescalation: \xff\n",
            "not UTF-8 text (byte 24, line 2)",
            id="a policy that is not UTF-8",
        ),
        pytest.param(
            b"a: &a ["
            + b"x, " * 9
            + b"x]\n"
            + b"".join(
                b"%c: &%c [" % (n, n) + b", ".join([b"*%c" % p] * 10) + b"]\n"
                for p, n in zip(b"abcdefgh", b"bcdefghi", strict=True)
            ),
            "YAML expands to more than",
            id="an alias bomb",
        ),
        pytest.param(
            b'"\\e[31m": 1\n',
            "\\x1b[31m: unknown field",
            id="a policy with an escape in a field name",
        ),
    ],
)
def test_a_broken_policy_file_is_an_error_naming_it(
    verb: str, tmp_path: Path, content: bytes, expected: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(content)
    result = cli(verb, "--prometheus", _closed_port_url(), "--policy", str(policy), "--json")
    clean(result)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert f"error: {policy}: " in result.stderr
    assert expected in result.stderr


def test_a_policy_path_with_escapes_is_shown_not_obeyed(tmp_path: Path) -> None:
    policy = tmp_path / "policy\x1b[2J.yaml"
    policy.write_text("version: 2\n", encoding="utf-8")
    result = cli("gate", "--prometheus", _closed_port_url(), "--policy", str(policy))
    clean(result)
    assert result.returncode == 1
    assert "policy\\x1b[2J.yaml: version: Input should be 1" in result.stderr


def test_every_problem_of_the_policy_file_is_reported_at_once(tmp_path: Path) -> None:
    policy = _policy_file(tmp_path, on_missing_data="maybe", fast_burn={"max_burn_rate": -1})
    result = sre("gate", "--prometheus", _closed_port_url(), "--policy", str(policy))
    assert result.returncode == 1
    assert f"{policy}: fast_burn.max_burn_rate: Input should be greater than 0" in result.stderr
    assert f"{policy}: on_missing_data: Input should be 'allow' or 'deny'" in result.stderr


def test_a_dns_lookup_that_hangs_does_not_hold_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def hanging_lookup(*args: object, **kwargs: object) -> list:
        started.set()
        release.wait(hostile.MAX_BEHAVIOUR_SECONDS)
        finished.set()
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    client = PrometheusClient("http://prometheus.example.invalid:9090/", limits=Limits(1))
    try:
        with pytest.raises(PrometheusError, match="within the 1 s deadline"):
            client.query("up")
        assert started.is_set()
        assert not finished.is_set()  # the query returned while the lookup still hung
    finally:
        release.set()
