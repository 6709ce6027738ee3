"""SecureBucket: an S3 bucket that is private, encrypted, versioned and TLS-only by default.

A bucket can also be the stack's log target: S3 server access logs (``access-logs/``), the
load balancer's access logs (``elb/``) and VPC flow logs (``AWSLogs/``, AWS's own layout at the
bucket's root), each delivered by its AWS service under a prefix that its bucket policy
statement grants and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.policy_documents import document, statement

ACCESS_LOG_PREFIX = "access-logs/"
ELB_LOGS_PREFIX = "elb"  # ALB access logs: <bucket>/elb/AWSLogs/<account>/elasticloadbalancing/...
# Flow logs go to the bucket itself: <bucket>/AWSLogs/<account>/vpcflowlogs/<region>/... (a
# folder in the destination would also do for AWS, but moto takes it for a bucket name).
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
FLOW_LOG_DELIVERY = "delivery.logs.amazonaws.com"
# Regions opened before August 2022 take ALB access logs from a regional ELB account (AWS ELB
# guide, "Enable access logs", bucket policy); newer regions from ELB_LOG_DELIVERY instead.
ELB_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-south-1": "718504428378",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-southeast-3": "589379963580",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-south-1": "635631232127",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584",
    "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993",
    "cn-northwest-1": "037604701340",
}


def partition(region: str) -> str:
    """The ARN partition of ``region`` (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def elb_log_principal(region: str) -> dict[str, str]:
    """Who delivers ALB access logs in ``region``: its ELB account, or the service principal."""
    account = ELB_ACCOUNTS.get(region)
    if account is None:
        return {"Service": ELB_LOG_DELIVERY}
    return {"AWS": f"arn:{partition(region)}:iam::{account}:root"}


@dataclass(frozen=True)
class LogDelivery:
    """AWS log deliveries a log bucket accepts from ``account_id`` in ``region``: ALB access
    logs under ``elb/`` and VPC flow logs under ``AWSLogs/``."""

    account_id: pulumi.Input[str]
    region: str


@dataclass(frozen=True)
class SecureBucketArgs:
    """Arguments of :class:`SecureBucket`.

    ``kms_key_arn`` switches server-side encryption from SSE-S3 to SSE-KMS with that key.
    ``log_bucket`` turns on server access logging into that bucket (under ``access-logs/<name>/``).
    ``accept_access_logs_from`` makes this bucket a log target: S3's logging service may write
    under ``access-logs/`` for source buckets of that account. ``protect`` protects the bucket
    from deletion and keeps it when the stack is destroyed (data buckets in prod); an unprotected
    bucket is emptied, every version included, when the stack is destroyed (``force_destroy``).
    ``log_delivery`` makes this bucket the target of ALB access logs and VPC flow logs; those
    deliveries only write into SSE-S3 buckets, so it cannot be combined with ``kms_key_arn``.
    """

    tags: Mapping[str, str]
    kms_key_arn: str | None = None
    noncurrent_transition_days: int = 30
    noncurrent_expiration_days: int = 90
    archive_after_days: int = 180
    log_bucket: pulumi.Input[str] | None = None
    accept_access_logs_from: pulumi.Input[str] | None = None
    log_delivery: LogDelivery | None = None
    protect: bool = False

    def __post_init__(self) -> None:
        if self.log_delivery is not None and self.kms_key_arn:
            raise ValueError(
                "a bucket that takes ALB access logs must use SSE-S3 (Elastic Load Balancing "
                "writes into no other encryption): leave kms_key_arn out for it"
            )


def _delivery_statements(arn: str, account: str, region: str) -> list[dict]:
    source = {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:{partition(region)}:logs:{region}:{account}:*"},
    }
    return [
        statement(
            ["s3:PutObject"],
            [f"{arn}/{ELB_LOGS_PREFIX}/AWSLogs/{account}/*"],
            principal=elb_log_principal(region),
            sid="ElbAccessLogsDelivery",
        ),
        statement(
            ["s3:PutObject"],
            [f"{arn}/AWSLogs/{account}/*"],
            principal={"Service": FLOW_LOG_DELIVERY},
            condition={
                **source,
                "StringEquals": {
                    "aws:SourceAccount": account,
                    "s3:x-amz-acl": "bucket-owner-full-control",
                },
            },
            sid="FlowLogsDelivery",
        ),
        statement(
            ["s3:GetBucketAcl", "s3:ListBucket"],
            [arn],
            principal={"Service": FLOW_LOG_DELIVERY},
            condition=source,
            sid="FlowLogsAclCheck",
        ),
    ]


def _bucket_policy(
    arn: str, log_account: str | None, delivery_account: str | None, region: str | None
) -> str:
    statements = [
        statement(
            ["s3:*"],
            [arn, f"{arn}/*"],
            effect="Deny",
            # {"AWS": "*"} means everyone, like "*"; moto's S3 logging check needs the map form.
            principal={"AWS": "*"},
            condition={"Bool": {"aws:SecureTransport": "false"}},
            sid="DenyInsecureTransport",
        )
    ]
    if log_account is not None:
        statements.append(
            statement(
                ["s3:PutObject"],
                [f"{arn}/{ACCESS_LOG_PREFIX}*"],
                principal={"Service": "logging.s3.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": log_account}},
                sid="S3ServerAccessLogsDelivery",
            )
        )
    if delivery_account is not None and region is not None:
        statements += _delivery_statements(arn, delivery_account, region)
    return document(*statements)


class SecureBucket(pulumi.ComponentResource):
    """An S3 bucket with versioning, encryption, all public access blocked and TLS-only access."""

    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]
    elb_access_logs: dict[str, pulumi.Input[Any]] | None
    flow_logs_destination: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        data = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )

        bucket = aws.s3.Bucket(
            f"{name}-bucket", force_destroy=not args.protect, tags=dict(args.tags), opts=data
        )
        self.bucket_name = bucket.id
        self.arn = bucket.arn

        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        if args.kms_key_arn:
            default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        else:
            default = {"sse_algorithm": "AES256"}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": default,
                    "bucket_key_enabled": bool(args.kms_key_arn),
                }
            ],
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        delivery = args.log_delivery
        policy = pulumi.Output.all(
            bucket.arn,
            args.accept_access_logs_from,
            delivery.account_id if delivery else None,
            delivery.region if delivery else None,
        ).apply(lambda values: _bucket_policy(*values))
        bucket_policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    "id": "noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_transitions": [
                        {
                            "noncurrent_days": args.noncurrent_transition_days,
                            "storage_class": "STANDARD_IA",
                        }
                    ],
                    "noncurrent_version_expiration": {
                        "noncurrent_days": args.noncurrent_expiration_days
                    },
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                },
                {
                    "id": "archive",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "transitions": [
                        {"days": args.archive_after_days, "storage_class": "GLACIER_IR"}
                    ],
                },
            ],
            opts=child,
        )
        if args.log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=bucket.id,
                target_bucket=args.log_bucket,
                target_prefix=f"{ACCESS_LOG_PREFIX}{name}/",
                opts=child,
            )

        # Log sources get the bucket through its policy, so they are created after the grants
        # (ELB checks it can write when access logs are turned on; flow log creation too).
        self.elb_access_logs = None
        self.flow_logs_destination = None
        if delivery is not None:
            granted = pulumi.Output.all(bucket.id, bucket.arn, bucket_policy.id)
            self.elb_access_logs = {
                "bucket": granted.apply(lambda values: values[0]),
                "prefix": ELB_LOGS_PREFIX,
                "enabled": True,
            }
            self.flow_logs_destination = granted.apply(lambda values: values[1])
        self.register_outputs({"bucket_name": self.bucket_name, "arn": self.arn})
