"""AWS SigV4 signing of Prometheus API requests for Amazon Managed Service for Prometheus (AMP).

Credentials come from the standard AWS chain through one boto3 session factory that callers
pass in, so tests and other tools can hand over their own session.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator

import boto3
import httpx
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sre_platform.errors import CredentialsError

AMP_SERVICE = "aps"
_AMP_HOST = re.compile(r"^aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com$")

SessionFactory = Callable[[], boto3.Session]


def default_session() -> boto3.Session:
    """Return a boto3 session on the standard credential chain (env, profile, SSO, role)."""
    return boto3.Session()


def amp_region(url: str) -> str | None:
    """Return the AWS region of an AMP workspace URL, or None for any other Prometheus."""
    match = _AMP_HOST.match(httpx.URL(url).host)
    return match.group(1) if match else None


class SigV4Auth(httpx.Auth):
    """httpx authentication that signs every request with AWS Signature Version 4.

    The signed headers are host, x-amz-date, the security token when there is one, and the
    content type when the request has a body; the payload hash covers the body.
    """

    requires_request_body = True

    def __init__(self, credentials: Credentials, region: str, service: str = AMP_SERVICE) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {"host": request.headers["host"]}
        if request.content:
            headers["content-type"] = request.headers.get("content-type", "")
        aws_request = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        frozen = self._credentials.get_frozen_credentials()
        BotocoreSigV4Auth(frozen, self._service, self._region).add_auth(aws_request)
        for name, value in aws_request.headers.items():
            request.headers[name] = value
        yield request


def sigv4_auth(session_factory: SessionFactory, region: str) -> SigV4Auth:
    """Return SigV4 auth for AMP in ``region`` from the session's credential chain."""
    credentials = session_factory().get_credentials()
    if credentials is None:
        raise CredentialsError(
            "no AWS credentials found for the AMP workspace: set AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use an instance/CI role"
        )
    return SigV4Auth(credentials, region)
