"""The rendered stacks' AWS documents and settings, replayed against moto (in process).

Pulumi cannot run here, so this is the closest check of what the program declares against AWS
APIs: IAM role trust and inline policies go through moto's IAM policy validators; buckets,
topics, keys, log groups, alarms and the AMP workspace with its rule namespaces are created with
the rendered values through boto3. What moto accepts is not proof AWS accepts it, but grammar
mistakes in policy documents, lifecycle rules, alarm queries or retention periods show here.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from stacks.render import RenderedResource, Rendering
from tests.infra.conftest import REGION

# Pulumi input names whose AWS API spelling is not plain PascalCase.
API_NAMES = {"id": "ID", "sseAlgorithm": "SSEAlgorithm", "kmsMasterKeyId": "KMSMasterKeyID"}


def pascal(value: Any) -> Any:
    """camelCase keys (Pulumi inputs) to the AWS API's PascalCase, recursively."""
    if isinstance(value, dict):
        return {API_NAMES.get(k, k[:1].upper() + k[1:]): pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    return value


def _siblings(rendering: Rendering, resource: RenderedResource, type_token: str) -> list:
    return [r for r in rendering.of_type(type_token) if r.parent == resource.parent]


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": query["id"], "ReturnData": query["returnData"]}
    if "expression" in query:
        out.update(Expression=query["expression"], Label=query["label"])
    else:
        metric = query["metric"]
        out["MetricStat"] = {
            "Metric": {
                "Namespace": metric["namespace"],
                "MetricName": metric["metricName"],
                "Dimensions": [{"Name": k, "Value": v} for k, v in metric["dimensions"].items()],
            },
            "Period": metric["period"],
            "Stat": metric["stat"],
        }
    return out


def _alarm(inputs: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "AlarmName": inputs["name"],
        "AlarmDescription": inputs["alarmDescription"],
        "ComparisonOperator": inputs["comparisonOperator"],
        "EvaluationPeriods": inputs["evaluationPeriods"],
        "DatapointsToAlarm": inputs["datapointsToAlarm"],
        "Threshold": float(inputs["threshold"]),
        "TreatMissingData": inputs["treatMissingData"],
        "AlarmActions": inputs["alarmActions"],
        "OKActions": inputs["okActions"],
        "Tags": [{"Key": k, "Value": v} for k, v in inputs["tags"].items()],
    }
    if "metricQueries" in inputs:
        request["Metrics"] = [_metric_query(q) for q in inputs["metricQueries"]]
    else:
        request.update(
            Namespace=inputs["namespace"],
            MetricName=inputs["metricName"],
            Period=inputs["period"],
            Dimensions=[{"Name": k, "Value": v} for k, v in inputs["dimensions"].items()],
        )
        if "extendedStatistic" in inputs:
            request["ExtendedStatistic"] = inputs["extendedStatistic"]
        else:
            request["Statistic"] = inputs["statistic"]
    return request


STACKS_TO_REPLAY = ["local", "prod"]


@pytest.mark.parametrize("stack", STACKS_TO_REPLAY)
def test_iam_roles_and_policies_pass_the_iam_validators(
    aws: None, renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    iam = boto3.client("iam")
    for policy in rendering.of_type("aws:iam/rolePolicy:RolePolicy"):
        (role,) = _siblings(rendering, policy, "aws:iam/role:Role")
        iam.create_role(
            RoleName=policy.inputs["role"],
            AssumeRolePolicyDocument=role.inputs["assumeRolePolicy"],
        )
        iam.update_assume_role_policy(
            RoleName=policy.inputs["role"], PolicyDocument=role.inputs["assumeRolePolicy"]
        )
        iam.put_role_policy(
            RoleName=policy.inputs["role"],
            PolicyName=policy.name,
            PolicyDocument=policy.inputs["policy"],
        )
        iam.create_policy(
            PolicyName=f"{policy.name}-managed", PolicyDocument=policy.inputs["policy"]
        )


@pytest.mark.parametrize("stack", STACKS_TO_REPLAY)
def test_buckets_are_created_with_the_rendered_settings(
    aws: None, renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    s3 = boto3.client("s3")
    names = {}
    for versioning in rendering.of_type("aws:s3/bucketVersioning:BucketVersioning"):
        names[versioning.parent] = versioning.inputs["bucket"]
        s3.create_bucket(Bucket=versioning.inputs["bucket"])
    assert len(names) == 2
    for parent, bucket in names.items():

        def only(token: str, parent: str = parent) -> dict[str, Any]:
            (found,) = [r for r in rendering.of_type(token) if r.parent == parent]
            return found.inputs

        s3.put_bucket_versioning(
            Bucket=bucket,
            VersioningConfiguration=pascal(
                only("aws:s3/bucketVersioning:BucketVersioning")["versioningConfiguration"]
            ),
        )
        encryption = only(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": pascal(encryption["rules"])},
        )
        blocks = only("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=pascal(
                {k: v for k, v in blocks.items() if k != "bucket"}
            ),
        )
        ownership = only("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [pascal(ownership["rule"])]}
        )
        s3.put_bucket_policy(
            Bucket=bucket, Policy=only("aws:s3/bucketPolicy:BucketPolicy")["policy"]
        )
        lifecycle = only("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket, LifecycleConfiguration={"Rules": pascal(lifecycle["rules"])}
        )
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert {r["ID"] for r in rules} == {"noncurrent-versions", "archive"}
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # Access logging is not replayed: moto's PutBucketLogging only accepts a log-delivery
    # statement whose Resource is exactly "<target bucket>/<prefix>*"; ours grants the whole
    # access-logs/ prefix (tests/infra/test_secure_bucket.py checks that statement).


@pytest.mark.parametrize("stack", STACKS_TO_REPLAY)
def test_topics_key_log_group_alarms_and_amp_are_accepted(
    aws: None, renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    kms, sns = boto3.client("kms"), boto3.client("sns")
    (key,) = rendering.of_type("aws:kms/key:Key")
    key_id = kms.create_key(Policy=key.inputs["policy"], Description=key.inputs["description"])[
        "KeyMetadata"
    ]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    topics = {}
    for topic in rendering.of_type("aws:sns/topic:Topic"):
        arn = sns.create_topic(Name=topic.inputs["name"], Attributes={"KmsMasterKeyId": key_id})[
            "TopicArn"
        ]
        topics[arn] = topic
    for policy in rendering.of_type("aws:sns/topicPolicy:TopicPolicy"):
        assert policy.inputs["arn"] in topics
        sns.set_topic_attributes(
            TopicArn=policy.inputs["arn"],
            AttributeName="Policy",
            AttributeValue=policy.inputs["policy"],
        )

    logs = boto3.client("logs")
    for group in rendering.of_type("aws:cloudwatch/logGroup:LogGroup"):
        logs.create_log_group(logGroupName=group.inputs["name"])
        logs.put_retention_policy(
            logGroupName=group.inputs["name"], retentionInDays=group.inputs["retentionInDays"]
        )

    cloudwatch = boto3.client("cloudwatch")
    for alarm in rendering.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        cloudwatch.put_metric_alarm(**_alarm(dict(alarm.inputs)))
    described = cloudwatch.describe_alarms()["MetricAlarms"]
    assert len(described) == len(rendering.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))

    amp = boto3.client("amp")
    (workspace,) = rendering.of_type("aws:amp/workspace:Workspace")
    workspace_id = amp.create_workspace(alias=workspace.inputs["alias"])["workspaceId"]
    for namespace in rendering.of_type("aws:amp/ruleGroupNamespace:RuleGroupNamespace"):
        amp.create_rule_groups_namespace(
            workspaceId=workspace_id,
            name=namespace.inputs["name"],
            data=namespace.inputs["data"].encode(),
        )
    stored = amp.list_rule_groups_namespaces(workspaceId=workspace_id)["ruleGroupsNamespaces"]
    assert len(stored) == len(rendering.of_type("aws:amp/ruleGroupNamespace:RuleGroupNamespace"))
    if "loggingConfiguration" in workspace.inputs:
        group_arn = logs.describe_log_groups()["logGroups"][0]["arn"]
        amp.create_logging_configuration(workspaceId=workspace_id, logGroupArn=group_arn)


def test_pascal_case_conversion() -> None:
    assert pascal({"id": "x", "noncurrentDays": 3, "list": [{"storageClass": "A"}]}) == {
        "ID": "x",
        "NoncurrentDays": 3,
        "List": [{"StorageClass": "A"}],
    }
    assert json.loads(json.dumps(pascal([]))) == []


@pytest.mark.parametrize("stack", STACKS_TO_REPLAY)
def test_the_dead_letter_queue_and_the_subscriptions_are_accepted(
    aws: None, renderings: dict, stack: str
) -> None:
    rendering = renderings[stack]
    kms, sns, sqs = boto3.client("kms"), boto3.client("sns"), boto3.client("sqs")
    (key,) = rendering.of_type("aws:kms/key:Key")
    key_id = kms.create_key(Policy=key.inputs["policy"])["KeyMetadata"]["KeyId"]
    topics = {
        f"arn:aws:sns:{REGION}:123456789012:{t.inputs['name']}": sns.create_topic(
            Name=t.inputs["name"], Attributes={"KmsMasterKeyId": key_id}
        )["TopicArn"]
        for t in rendering.of_type("aws:sns/topic:Topic")
        if t.parent == "alerts"  # the page and ticket topics (not the remediation topic)
    }
    # The alert topics' queue (prod has the remediation Lambda's dead-letter queue too).
    (queue,) = [
        q for q in rendering.of_type("aws:sqs/queue:Queue") if q.parent == "alerts-undelivered"
    ]
    (policy,) = rendering.of_type("aws:sqs/queuePolicy:QueuePolicy")
    url = sqs.create_queue(
        QueueName=queue.inputs["name"],
        Attributes={
            "KmsMasterKeyId": key_id,
            "KmsDataKeyReusePeriodSeconds": str(queue.inputs["kmsDataKeyReusePeriodSeconds"]),
            "MessageRetentionPeriod": str(queue.inputs["messageRetentionSeconds"]),
        },
    )["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy.inputs["policy"]})
    stored = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(stored["Policy"]) == json.loads(policy.inputs["policy"])
    assert stored["MessageRetentionPeriod"] == "1209600"

    subscriptions = [
        s
        for s in rendering.of_type("aws:sns/topicSubscription:TopicSubscription")
        if s.parent == "alerts"  # the remediation Lambda's is checked in test_remediation_stack
    ]
    assert subscriptions
    for subscription in subscriptions:
        inputs = subscription.inputs
        attributes = {"RedrivePolicy": inputs["redrivePolicy"]}
        if "rawMessageDelivery" in inputs:
            attributes["RawMessageDelivery"] = str(inputs["rawMessageDelivery"]).lower()
        sns.subscribe(
            TopicArn=topics[inputs["topic"]],
            Protocol=inputs["protocol"],
            Endpoint=inputs["endpoint"],
            Attributes=attributes,
        )
    for rendered_arn, arn in topics.items():
        listed = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        expected = [s for s in subscriptions if s.inputs["topic"] == rendered_arn]
        assert len(listed) == len(expected) >= 1
        for entry in listed:
            redrive = sns.get_subscription_attributes(SubscriptionArn=entry["SubscriptionArn"])
            target = json.loads(redrive["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
            assert target.endswith(f":{queue.inputs['name']}")
