"""A small client for the Prometheus HTTP API (instant queries), for the lab and for AMP."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import httpx
from pydantic import BaseModel, ValidationError

from budget.sigv4 import SessionFactory, amp_region, default_session, sigv4_auth
from sre_platform.errors import BudgetError

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels (with ``__name__``) and value (maybe NaN)."""

    labels: Mapping[str, str]
    value: float

    @property
    def name(self) -> str:
        return self.labels.get("__name__", "")


class _VectorItem(BaseModel):
    metric: dict[str, str]
    value: tuple[float, str]


class _VectorData(BaseModel):
    resultType: Literal["vector"]  # the API's field name
    result: list[_VectorItem]


class _QueryResponse(BaseModel):
    status: Literal["success"]
    data: _VectorData


def quote(value: str) -> str:
    """Return ``value`` as a PromQL double-quoted string literal."""
    return json.dumps(value)


def _api_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/api/v1/query"


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return response.text[:200].strip()


def parse_vector(payload: object) -> list[Sample]:
    """Parse the JSON body of an instant query that returned a vector."""
    parsed = _QueryResponse.model_validate(payload)
    return [
        Sample(labels=MappingProxyType(dict(item.metric)), value=float(item.value[1]))
        for item in parsed.data.result
    ]


class PrometheusClient:
    """Instant queries against one Prometheus-compatible endpoint."""

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url
        self._http = http

    def query(self, expr: str) -> list[Sample]:
        """Run ``expr`` as an instant query at the current time."""
        try:
            response = self._http.get(_api_url(self.base_url), params={"query": expr})
        except httpx.HTTPError as exc:
            raise BudgetError(f"Prometheus at {self.base_url} is unreachable: {exc}") from None
        if response.status_code != 200:
            raise BudgetError(
                f"Prometheus at {self.base_url} answered HTTP {response.status_code} "
                f"to {expr!r}: {_error_detail(response)}"
            )
        try:
            return parse_vector(response.json())
        except (ValueError, ValidationError):
            raise BudgetError(
                f"Prometheus at {self.base_url} sent an answer that is not an instant vector "
                f"for {expr!r}"
            ) from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_client(
    url: str, session_factory: SessionFactory = default_session, timeout: float = TIMEOUT_SECONDS
) -> PrometheusClient:
    """Return a client for ``url``; AMP workspace URLs are signed with SigV4."""
    parsed = httpx.URL(url)
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise BudgetError(f"--prometheus {url!r} is not an http(s) URL")
    return PrometheusClient(url, httpx.Client(auth=auth_for(url, session_factory), timeout=timeout))


def auth_for(url: str, session_factory: SessionFactory) -> httpx.Auth | None:
    """Return SigV4 auth (region from the host) for an AMP workspace URL, else None."""
    region = amp_region(url)
    return sigv4_auth(session_factory, region) if region else None
