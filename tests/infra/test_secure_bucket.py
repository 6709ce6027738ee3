"""SecureBucket: private, encrypted, versioned, TLS-only by default; options do what they say."""

from __future__ import annotations

import json
import re

import pulumi_aws as aws
import pytest

from components.secure_bucket import (
    ELB_LOGS_PREFIX,
    LogDelivery,
    SecureBucket,
    SecureBucketArgs,
)
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


@pytest.mark.parametrize(
    ("protect", "force_destroy"),
    [
        pytest.param(False, True, id="an unprotected bucket is emptied on destroy (dev, staging)"),
        pytest.param(True, False, id="a protected bucket is never emptied by Pulumi (prod)"),
    ],
)
def test_force_destroy_is_the_opposite_of_protect(protect: bool, force_destroy: bool) -> None:
    assert _bucket(protect=protect)["data-bucket"].inputs["forceDestroy"] is force_destroy


def test_every_lifecycle_rule_filters_on_the_empty_prefix_not_an_empty_filter() -> None:
    rules = _bucket()["data-lifecycle"].inputs["rules"]
    assert [rule["filter"] for rule in rules] == [{"prefix": ""}] * len(rules)


ACCOUNT = "123456789012"


def _delivery_policy(region: str) -> dict[str, dict]:
    delivery = LogDelivery(account_id=ACCOUNT, region=region)
    policy = json.loads(_bucket(log_delivery=delivery)["data-policy"].inputs["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


@pytest.mark.parametrize(
    ("region", "principal"),
    [
        pytest.param(
            "us-east-1",
            {"AWS": "arn:aws:iam::127311923021:root"},
            id="a region older than August 2022 grants the regional ELB account",
        ),
        pytest.param(
            "eu-west-1",
            {"AWS": "arn:aws:iam::156460612806:root"},
            id="each older region has its own ELB account",
        ),
        pytest.param(
            "us-gov-west-1",
            {"AWS": "arn:aws-us-gov:iam::048591011584:root"},
            id="GovCloud's ELB account is named in its own partition",
        ),
        pytest.param(
            "ap-southeast-5",
            {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            id="a newer region grants ELB's log delivery service principal",
        ),
    ],
)
def test_a_log_target_lets_the_regional_elb_deliver_access_logs_under_its_prefix(
    region: str, principal: dict
) -> None:
    statements = _delivery_policy(region)
    elb = statements["ElbAccessLogsDelivery"]
    assert elb["Principal"] == principal
    assert elb["Action"] == ["s3:PutObject"]
    (resource,) = elb["Resource"]
    assert resource.endswith(f"/{ELB_LOGS_PREFIX}/AWSLogs/{ACCOUNT}/*")


def test_a_log_target_lets_only_flow_logs_of_its_account_and_region_deliver() -> None:
    statements = _delivery_policy("us-east-1")
    write, acl_check = statements["FlowLogsDelivery"], statements["FlowLogsAclCheck"]
    for grant in (write, acl_check):
        assert grant["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
        assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        assert grant["Condition"]["ArnLike"] == {
            "aws:SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:*"
        }
    assert write["Action"] == ["s3:PutObject"]
    (resource,) = write["Resource"]
    assert re.fullmatch(rf"arn:aws:s3:::data-bucket-\w+/AWSLogs/{ACCOUNT}/\*", resource)
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert acl_check["Action"] == ["s3:GetBucketAcl", "s3:ListBucket"]
    assert [r.endswith("/*") for r in acl_check["Resource"]] == [False]
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"  # TLS-only stays


def test_log_sources_wait_for_the_delivery_grants() -> None:
    delivery = LogDelivery(account_id=ACCOUNT, region="us-east-1")

    def program() -> None:
        logs = SecureBucket("data", SecureBucketArgs(tags=TAGS, log_delivery=delivery))
        assert logs.elb_access_logs is not None and logs.flow_logs_destination is not None
        aws.lb.LoadBalancer("lb", access_logs=logs.elb_access_logs)
        aws.ec2.FlowLog(
            "flow",
            vpc_id="vpc-1",
            log_destination=logs.flow_logs_destination,
            log_destination_type="s3",
            traffic_type="ALL",
        )

    r = declare(program)
    access_logs = r["lb"].inputs["accessLogs"]
    assert access_logs["bucket"].startswith("data-bucket-")  # the mocked bucket's name
    assert (access_logs["prefix"], access_logs["enabled"]) == (ELB_LOGS_PREFIX, True)
    assert "data-policy" in r["lb"].dependencies["accessLogs"]
    destination = r["flow"].inputs["logDestination"]
    assert destination == f"arn:aws:s3:::{access_logs['bucket']}"  # AWSLogs/ at its root
    assert "data-policy" in r["flow"].dependencies["logDestination"]


def test_without_log_delivery_a_bucket_offers_no_delivery_targets() -> None:
    def program() -> None:
        bucket = SecureBucket("data", SecureBucketArgs(tags=TAGS))
        assert bucket.elb_access_logs is None and bucket.flow_logs_destination is None

    declare(program)


def test_a_log_target_refuses_kms_encryption_elb_cannot_write_into() -> None:
    with pytest.raises(ValueError, match="SSE-S3"):
        SecureBucketArgs(
            tags=TAGS,
            kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
            log_delivery=LogDelivery(account_id=ACCOUNT, region="us-east-1"),
        )
