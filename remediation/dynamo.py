"""The AWS remediation state and audit: one DynamoDB table (key ``pk`` + ``sk``, TTL on
``expires_at``).

Items: ``state#<scope>`` (a service's action history and its version), ``seen#<key>`` (an
alert occurrence already acted upon under a rule) and ``audit#<day>`` / ``<time>#<id>`` (one
per decision). A reservation writes the key and the new history in one TransactWriteItems whose
conditions are "key not seen" and "history still at the version read": of two Lambda
invocations racing for the last slot, or delivered the same alert twice, exactly one wins.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from remediation.engine import Decision
from remediation.guardrails import (
    DUPLICATE,
    MAX_CAS_ATTEMPTS,
    History,
    Request,
    StoreContention,
    admit,
)

DAY_SECONDS = 86_400
AUDIT_RETENTION_DAYS = 90
KEY_SCHEMA = (("pk", "HASH"), ("sk", "RANGE"))
TTL_ATTRIBUTE = "expires_at"


def _state_key(scope: str) -> dict[str, Any]:
    return {"pk": {"S": f"state#{scope}"}, "sk": {"S": "state"}}


def _seen_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"seen#{key}"}, "sk": {"S": "seen"}}


class DynamoStateStore:
    """A :class:`~remediation.guardrails.StateStore` in a DynamoDB table (a boto3 client)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def _seen(self, request: Request) -> bool:
        item = self.client.get_item(
            TableName=self.table, Key=_seen_key(request.key), ConsistentRead=True
        ).get("Item")
        return bool(item) and float(item[TTL_ATTRIBUTE]["N"]) > request.now

    def history(self, scope: str) -> History:
        """The action history of ``scope`` as stored now."""
        item = self.client.get_item(
            TableName=self.table, Key=_state_key(scope), ConsistentRead=True
        ).get("Item")
        return History.from_json(json.loads(item["history"]["S"])) if item else History()

    def reserve(self, request: Request) -> str | None:
        """Admit ``request`` with a conditional transaction (see StateStore.reserve)."""
        for _ in range(MAX_CAS_ATTEMPTS):
            if self._seen(request):
                return DUPLICATE
            history = self.history(request.scope)
            admitted, refused = admit(history, request)
            if admitted is None:
                return refused
            now = int(request.now)
            state_put: dict[str, Any] = {
                "TableName": self.table,
                "Item": {
                    **_state_key(request.scope),
                    "version": {"N": str(admitted.version)},
                    "history": {"S": json.dumps(admitted.as_json(), sort_keys=True)},
                    TTL_ATTRIBUTE: {
                        "N": str(
                            now
                            + max(request.window_seconds, request.cooldown_seconds)
                            + DAY_SECONDS
                        )
                    },
                },
            }
            if history.version:
                state_put["ConditionExpression"] = "version = :version"
                state_put["ExpressionAttributeValues"] = {":version": {"N": str(history.version)}}
            else:
                state_put["ConditionExpression"] = "attribute_not_exists(pk)"
            seen_put = {
                "TableName": self.table,
                "Item": {
                    **_seen_key(request.key),
                    "scope": {"S": request.scope},
                    TTL_ATTRIBUTE: {"N": str(now + request.keep_seconds)},
                },
                "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
            try:
                self.client.transact_write_items(
                    TransactItems=[{"Put": seen_put}, {"Put": state_put}]
                )
                return None
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                codes = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if codes[:1] == ["ConditionalCheckFailed"]:
                    return DUPLICATE
                # The history moved (or a conflicting transaction ran): read it again.
        raise StoreContention(
            f"{self.table}: {request.scope} changed under {MAX_CAS_ATTEMPTS} reservations in a row"
        )


class DynamoAuditLog:
    """An :class:`~remediation.engine.AuditSink` writing one item per decision."""

    def __init__(self, client: Any, table: str, retention_days: int = AUDIT_RETENTION_DAYS) -> None:
        self.client = client
        self.table = table
        self.retention_days = retention_days

    def record(self, decision: Decision) -> None:
        """Put ``decision`` under its day, expiring after the retention."""
        when = decision.time
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"audit#{when.date().isoformat()}"},
                "sk": {"S": f"{when.isoformat()}#{uuid.uuid4().hex}"},
                "outcome": {"S": str(decision.outcome)},
                "reason": {"S": str(decision.reason)},
                "record": {"S": json.dumps(decision.as_record(), sort_keys=True)},
                TTL_ATTRIBUTE: {
                    "N": str(int(when.timestamp()) + self.retention_days * DAY_SECONDS)
                },
            },
        )

    def records(self, day: datetime) -> list[dict[str, Any]]:
        """The records of one day (UTC), oldest first."""
        paginator = self.client.get_paginator("query")
        found = []
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"audit#{day.date().isoformat()}"}},
        ):
            found += [json.loads(item["record"]["S"]) for item in page.get("Items", [])]
        return found
