"""SecureBucket: private, encrypted, versioned, TLS-only by default; options do what they say."""

from __future__ import annotations

import json

import pytest

from components.secure_bucket import SecureBucket, SecureBucketArgs
from tests.infra.conftest import TAGS, declare


def _bucket(**options: object) -> dict:
    return declare(lambda: SecureBucket("data", SecureBucketArgs(tags=TAGS, **options)))


def test_defaults_are_the_secure_choice() -> None:
    r = _bucket()
    assert r["data"].type == "sre-platform:storage:SecureBucket"
    assert r["data-bucket"].inputs["tags"] == TAGS
    assert r["data-versioning"].inputs["versioningConfiguration"] == {"status": "Enabled"}
    (rule,) = r["data-encryption"].inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    blocks = r["data-public-access"].inputs
    assert all(
        blocks[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    assert r["data-ownership"].inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert "data-logging" not in r
    assert not r["data-bucket"].protect and not r["data-bucket"].retain_on_delete
    assert {x.parent for name, x in r.items() if name != "data"} == {"data"}


def test_the_bucket_policy_refuses_every_request_without_tls() -> None:
    policy = json.loads(_bucket()["data-policy"].inputs["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == ["s3:*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"][1] == deny["Resource"][0] + "/*"


def test_noncurrent_versions_move_to_infrequent_access_then_expire() -> None:
    rules = {
        rule["id"]: rule
        for rule in _bucket(noncurrent_expiration_days=120)["data-lifecycle"].inputs["rules"]
    }
    noncurrent = rules["noncurrent-versions"]
    assert noncurrent["noncurrentVersionExpiration"] == {"noncurrentDays": 120}
    assert noncurrent["noncurrentVersionTransitions"][0]["storageClass"] == "STANDARD_IA"
    assert rules["archive"]["transitions"][0]["storageClass"] == "GLACIER_IR"


@pytest.mark.parametrize(
    ("options", "algorithm"),
    [
        pytest.param({}, "AES256", id="without a key the bucket uses S3-managed keys"),
        pytest.param(
            {"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/k"},
            "aws:kms",
            id="with a key the bucket uses SSE-KMS with that key",
        ),
    ],
)
def test_encryption_follows_the_key_option(options: dict, algorithm: str) -> None:
    (rule,) = _bucket(**options)["data-encryption"].inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == algorithm
    if "kms_key_arn" in options:
        assert (
            rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == options["kms_key_arn"]
        )
        assert rule["bucketKeyEnabled"] is True


def test_protected_buckets_are_protected_and_kept_on_delete() -> None:
    bucket = _bucket(protect=True)["data-bucket"]
    assert bucket.protect and bucket.retain_on_delete


def test_access_logging_writes_under_the_bucket_name_in_the_log_bucket() -> None:
    logging = _bucket(log_bucket="logs-bucket")["data-logging"].inputs
    assert logging["targetBucket"] == "logs-bucket"
    assert logging["targetPrefix"] == "access-logs/data/"


def test_a_log_target_lets_only_s3_logging_of_its_account_write_access_logs() -> None:
    policy = json.loads(
        _bucket(accept_access_logs_from="123456789012")["data-policy"].inputs["policy"]
    )
    delivery = policy["Statement"][1]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == ["s3:PutObject"]
    assert delivery["Resource"][0].endswith("/access-logs/*")
    assert delivery["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
