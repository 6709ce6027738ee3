"""SigV4 signing checked by a local HTTP server that recomputes the signature with botocore."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sre_platform.errors import CredentialsError, PrometheusError
from sre_platform.prometheus import PrometheusClient, auth_for
from sre_platform.sigv4 import SigV4Auth, amp_region, sigv4_auth

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "session-token-example"
REGION = "eu-west-1"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>\w+)$"
)
VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}


def verify(method: str, url: str, headers: dict[str, str], body: bytes) -> str | None:
    """Return why the request's signature is wrong, or None when botocore agrees with it."""
    match = _AUTH.match(headers.get("authorization", ""))
    if not match:
        return "no SigV4 authorization header"
    if match["key"] != ACCESS_KEY or match["service"] != "aps" or match["region"] != REGION:
        return f"wrong credential scope {match.group(0)}"
    if headers.get("x-amz-security-token") != TOKEN:
        return "missing or wrong security token"
    signed = match["signed"].split(";")
    request = AWSRequest(
        method=method, url=url, data=body, headers={name: headers[name] for name in signed}
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = BotocoreSigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, TOKEN), "aps", REGION)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    return None if expected == match["sig"] else "signature does not match"


class _Verifier(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        host, port = self.server.server_address[:2]
        headers = {name.lower(): value for name, value in self.headers.items()}
        problem = verify(self.command, f"http://{host}:{port}{self.path}", headers, body)
        status, payload = (403, {"message": problem}) if problem else (200, VECTOR)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def verifier() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Verifier)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/workspaces/ws-test/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _session(secret: str = SECRET_KEY) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        aws_session_token=TOKEN,
        region_name=REGION,
    )


def _signed_client(base_url: str, secret: str = SECRET_KEY) -> PrometheusClient:
    return PrometheusClient(base_url, sigv4_auth(lambda: _session(secret), REGION))


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param("up", id="a plain query is signed so that the server accepts it"),
        pytest.param(
            '{__name__=~"slo:(objective|current_burn_rate):ratio", sloth_service="a b/c"}',
            id="a query with quotes, spaces and slashes is signed as sent",
        ),
    ],
)
def test_signed_queries_are_accepted(verifier: str, expr: str) -> None:
    assert _signed_client(verifier).query(expr) == []


def test_a_signed_post_body_is_covered_by_the_signature(verifier: str) -> None:
    auth = sigv4_auth(_session, REGION)
    with httpx.Client(auth=auth, timeout=5) as http:
        response = http.post(verifier + "api/v1/query", data={"query": "up"})
    assert response.status_code == 200, response.text


def test_a_request_changed_after_signing_is_rejected(verifier: str) -> None:
    request = httpx.Request("GET", verifier + "api/v1/query", params={"query": "up"})
    signed = next(SigV4Auth(_session().get_credentials(), REGION).auth_flow(request))
    tampered = httpx.Request(
        "GET", verifier + "api/v1/query", params={"query": "vector(1)"}, headers=signed.headers
    )
    with httpx.Client() as http:
        response = http.send(tampered)
    assert response.status_code == 403
    assert response.json() == {"message": "signature does not match"}


def test_a_wrong_secret_is_rejected_with_a_clear_error(verifier: str) -> None:
    client = _signed_client(verifier, secret="not-the-secret")
    with pytest.raises(PrometheusError, match="answered HTTP 403"):
        client.query("up")


def test_an_unsigned_request_is_rejected(verifier: str) -> None:
    with httpx.Client() as http:
        response = http.get(verifier + "api/v1/query", params={"query": "up"})
    assert response.json() == {"message": "no SigV4 authorization header"}


@pytest.mark.parametrize(
    ("url", "region"),
    [
        pytest.param(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-123/",
            "us-east-1",
            id="an AMP workspace URL names its region",
        ),
        pytest.param(
            "https://aps-workspaces.eu-central-1.amazonaws.com/workspaces/ws-9",
            "eu-central-1",
            id="an AMP URL without a trailing slash is still AMP",
        ),
        pytest.param("http://127.0.0.1:9090", None, id="the lab's Prometheus is not signed"),
        pytest.param(
            "https://aps-workspaces.us-east-1.amazonaws.com.evil.example/workspaces/ws-1/",
            None,
            id="a look-alike host is not signed with AWS credentials",
        ),
    ],
)
def test_amp_is_detected_by_host(url: str, region: str | None) -> None:
    assert amp_region(url) == region


def test_an_amp_url_is_signed_for_its_region_with_the_session_from_the_factory(
    verifier: str,
) -> None:
    calls: list[str] = []

    def factory() -> boto3.Session:
        calls.append("session")
        return _session()

    auth = auth_for(f"https://aps-workspaces.{REGION}.amazonaws.com/workspaces/ws-1/", factory)
    assert PrometheusClient(verifier, auth).query("up") == []
    assert calls == ["session"]
    assert auth_for("http://127.0.0.1:9090", factory) is None
    assert calls == ["session"]


def test_amp_without_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialsError, match="no AWS credentials"):
        sigv4_auth(boto3.Session, "us-east-1")
