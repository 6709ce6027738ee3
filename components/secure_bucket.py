"""SecureBucket: an S3 bucket that is private, encrypted, versioned and TLS-only by default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policy_documents import document, statement

ACCESS_LOG_PREFIX = "access-logs/"


@dataclass(frozen=True)
class SecureBucketArgs:
    """Arguments of :class:`SecureBucket`.

    ``kms_key_arn`` switches server-side encryption from SSE-S3 to SSE-KMS with that key.
    ``log_bucket`` turns on server access logging into that bucket (under ``access-logs/<name>/``).
    ``accept_access_logs_from`` makes this bucket a log target: S3's logging service may write
    under ``access-logs/`` for source buckets of that account. ``protect`` protects the bucket
    from deletion and keeps it when the stack is destroyed (data buckets in prod).
    """

    tags: Mapping[str, str]
    kms_key_arn: str | None = None
    noncurrent_transition_days: int = 30
    noncurrent_expiration_days: int = 90
    archive_after_days: int = 180
    log_bucket: pulumi.Input[str] | None = None
    accept_access_logs_from: pulumi.Input[str] | None = None
    protect: bool = False


def _bucket_policy(arn: str, log_account: str | None) -> str:
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
    return document(*statements)


class SecureBucket(pulumi.ComponentResource):
    """An S3 bucket with versioning, encryption, all public access blocked and TLS-only access."""

    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sre-platform:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        data = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )

        bucket = aws.s3.Bucket(f"{name}-bucket", tags=dict(args.tags), opts=data)
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
        policy = pulumi.Output.all(bucket.arn, args.accept_access_logs_from).apply(
            lambda values: _bucket_policy(values[0], values[1])
        )
        aws.s3.BucketPolicy(
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
                    "filter": {},
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
                    "filter": {},
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

        self.register_outputs({"bucket_name": self.bucket_name, "arn": self.arn})
