"""Offline render: run the Pulumi program of one stack under Pulumi's mock runtime.

No cloud, no Pulumi CLI: the stack's ``Pulumi.<stack>.yaml`` becomes the program's config, the
program runs in this process against a mock resource monitor, and every resource it declares
is recorded with its type token, name, parent and inputs (secrets masked). The same records
feed ``sre stack render``, the security baseline tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from stacks.config import encode_config_value
from stacks.project import PROJECT, check_project, read_stack_config

SECRET = "[secret]"
ACCOUNT_ID = "123456789012"
_SECRET_SIG = rpc._special_secret_sig
_SIG_KEY = rpc._special_sig_key
T = TypeVar("T")


@dataclass(frozen=True)
class RenderedResource:
    """One declared resource: ``inputs`` as the program passed them, secrets masked."""

    type: str
    name: str
    parent: str | None
    inputs: Mapping[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    # input name -> names of the resources its value came from (the baseline links by them)
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # resources it waits for that none of its inputs came from (its depends_on)
    depends_on: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The resource as ``sre stack render --json`` prints it."""
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "protect": self.protect,
            "inputs": self.inputs,
        }


@dataclass(frozen=True)
class Rendering:
    """Everything one stack declares, in declaration order, and its exported outputs."""

    stack: str
    resources: tuple[RenderedResource, ...]
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The rendering as ``sre stack render --json`` prints it (secrets stay masked)."""
        return {
            "stack": self.stack,
            "resources": [r.as_json() for r in self.resources],
            "outputs": dict(self.outputs),
        }

    def of_type(self, type_token: str) -> list[RenderedResource]:
        """The resources of one type token, e.g. ``aws:s3/bucket:Bucket``."""
        return [r for r in self.resources if r.type == type_token]


def mask_secrets(value: Any) -> Any:
    """Replace every secret in a deserialized property value by ``[secret]``.

    Whole numbers come back from the wire as floats; they are turned back into ints. A file
    asset becomes ``{"fileAsset": <path>}`` (the file is not read), a string asset
    ``{"stringAsset": <its SHA-256>}``, an asset archive ``{"assetArchive": {name: asset}}``.
    """
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": value.path}
    if isinstance(value, pulumi.StringAsset):  # its text's hash: a render stays small
        return {"stringAsset": hashlib.sha256(value.text.encode()).hexdigest()}
    if isinstance(value, pulumi.AssetArchive):
        return {"assetArchive": {k: mask_secrets(v) for k, v in sorted(value.assets.items())}}
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return SECRET
        return {k: mask_secrets(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def tree_order(records: list[RenderedResource]) -> tuple[RenderedResource, ...]:
    """Order resources as a tree: each parent followed by its children, names sorted."""
    by_name = {r.name: r for r in records}

    def path(record: RenderedResource) -> tuple[str, ...]:
        chain = [record.name]
        parent = record.parent
        while parent is not None and parent in by_name:
            chain.append(parent)
            parent = by_name[parent].parent
        return tuple(reversed(chain))

    return tuple(sorted(records, key=path))


def _short(text: str, size: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


class PlatformMocks(mocks.Mocks):
    """Mocked AWS and Grafana: outputs are the inputs plus plausible ids, ARNs and endpoints."""

    def __init__(self, region: str = "us-east-1", account_id: str = ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        """Return the physical id and output properties of a mocked resource."""
        inputs = dict(args.inputs)
        name = str(inputs.get("name") or args.name)
        tag = _short(args.name)
        rid = f"{args.name}-{tag}"
        out: dict[str, Any] = {**inputs, "name": name}
        typ = args.typ
        if typ == "aws:s3/bucket:Bucket":
            rid = f"{args.name}-{tag}"
            out.update(bucket=rid, arn=f"arn:aws:s3:::{rid}")
        elif typ == "aws:sns/topic:Topic":
            rid = self._arn("sns", name)
            out["arn"] = rid
        elif typ == "aws:sqs/queue:Queue":
            rid = f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{name}"
            out.update(arn=self._arn("sqs", name), url=rid)
        elif typ == "aws:kms/key:Key":
            rid = f"{tag}-0000-4000-8000-{_short(args.name, 12)}"
            out.update(keyId=rid, arn=self._arn("kms", f"key/{rid}"))
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            out.update(
                arn=self._arn("elasticloadbalancing", f"loadbalancer/app/{args.name}/{tag}"),
                arnSuffix=f"app/{args.name}/{tag}",
                dnsName=f"{args.name}-{tag}.{self.region}.elb.amazonaws.com",
            )
        elif typ == "aws:lb/targetGroup:TargetGroup":
            out.update(
                arn=self._arn("elasticloadbalancing", f"targetgroup/{args.name}/{tag}"),
                arnSuffix=f"targetgroup/{args.name}/{tag}",
            )
        elif typ == "aws:amp/workspace:Workspace":
            rid = f"ws-{tag}"
            out.update(
                arn=self._arn("aps", f"workspace/{rid}"),
                prometheusEndpoint=(
                    f"https://aps-workspaces.{self.region}.amazonaws.com/workspaces/{rid}/"
                ),
            )
        elif typ == "aws:grafana/workspace:Workspace":
            rid = f"g-{tag}"
            out.update(
                arn=self._arn("grafana", f"/workspaces/{rid}"),
                endpoint=f"{rid}.grafana-workspace.{self.region}.amazonaws.com",
            )
        elif typ == "aws:grafana/workspaceServiceAccount:WorkspaceServiceAccount":
            out["serviceAccountId"] = tag
        elif typ == "aws:grafana/workspaceServiceAccountToken:WorkspaceServiceAccountToken":
            out.update(key=f"glsa_{tag}", serviceAccountTokenId=tag)
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            rid = f"lt-{tag}"
            out.update(latestVersion=1, arn=self._arn("ec2", f"launch-template/{rid}"))
        elif typ == "aws:autoscaling/group:Group":
            rid = str(inputs.get("namePrefix", "")) + tag
            out.update(name=rid, arn=self._arn("autoscaling", f"autoScalingGroup:{rid}"))
        elif typ.startswith("aws:iam/"):
            out["arn"] = f"arn:aws:iam::{self.account_id}:{typ.split(':')[-1].lower()}/{name}"
        else:
            service = typ.split(":")[1].split("/")[0] if typ.count(":") >= 2 else "mock"
            out.setdefault("arn", self._arn(service, f"{args.name}/{tag}"))
        return rid, out

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Answer the provider functions the program calls."""
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:aws:iam::{self.account_id}:user/render",
                "userId": "AIDARENDER",
                "id": self.account_id,
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if args.token == "aws:ssm/getParameter:getParameter":
            # An AMI parameter (/aws/service/ami-amazon-linux-latest/...): a plausible image id.
            name = str(args.args.get("name", ""))
            image = self.image_id(name)
            return {
                "arn": self._arn("ssm", f"parameter{name}"),
                "id": name,
                "name": name,
                "type": "String",
                "value": image,
                "insecureValue": image,
                "version": 1,
                "withDecryption": True,
            }, []
        if args.token == "aws:ec2/getAmi:getAmi":
            image = self.image_id(json.dumps(args.args, sort_keys=True, default=str))
            return {"id": image, "imageId": image, "architecture": "x86_64"}, []
        return {}, []

    @staticmethod
    def image_id(seed: str) -> str:
        """A plausible AMI id (ami- and 17 hex digits), the same for the same ``seed``."""
        return f"ami-0{_short(seed, 16)}"


class RecordingMonitor(mocks.MockMonitor):
    """A mock resource monitor that also records every registration, in order."""

    def __init__(self, platform_mocks: mocks.Mocks) -> None:
        super().__init__(platform_mocks)
        self.records: list[RenderedResource] = []
        self._names: dict[str, str] = {}

    def RegisterResource(self, request: Any) -> Any:
        """Register as the mock monitor does, and record the declared resource."""
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._names[response.urn] = request.name
            self.records.append(
                RenderedResource(
                    type=request.type,
                    name=request.name,
                    parent=self._names.get(request.parent),
                    inputs=mask_secrets(rpc.deserialize_properties(request.object)),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies={
                        key: tuple(sorted(self._names[u] for u in value.urns if u in self._names))
                        for key, value in sorted(request.propertyDependencies.items())
                        if value.urns
                    },
                    depends_on=self._depends_on(request),
                )
            )
        return response

    def _depends_on(self, request: Any) -> tuple[str, ...]:
        implicit = {u for value in request.propertyDependencies.values() for u in value.urns}
        return tuple(
            sorted(self._names[u] for u in set(request.dependencies) - implicit if u in self._names)
        )


def _ensure_event_loop() -> None:
    """Pulumi's runtime awaits on the thread's current event loop: give the thread one when an
    earlier ``asyncio.run`` in this process (the budget gate's client, say) left it none."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_mocked(
    program: Callable[[], T],
    stack: str = "test",
    config: Mapping[str, Any] | None = None,
    region: str = "us-east-1",
    preview: bool = True,
) -> tuple[tuple[RenderedResource, ...], T]:
    """Run ``program`` under the mock runtime; return what it declared and what it returned.

    ``config`` maps full keys (``sre-platform:fleet``) to values, as in a stack file. Each run
    gets a fresh root stack and config, isolated in its own context. ``preview``: the program
    sees a preview (``pulumi.runtime.is_dry_run()``), as ``pulumi preview`` would show it;
    False for what ``pulumi up`` would do.
    """
    _ensure_event_loop()
    platform_mocks = PlatformMocks(region=region)
    monitor = RecordingMonitor(platform_mocks)

    def run() -> T:
        settings.ROOT.set(None)
        mocks.set_mocks(
            platform_mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor
        )
        pulumi.runtime.set_all_config(
            {key: encode_config_value(value) for key, value in (config or {}).items()}, []
        )
        result: list[T] = []
        _sync_await(run_pulumi_func(lambda: result.append(program())))
        return result[0]

    returned = contextvars.copy_context().run(run)
    return tree_order(monitor.records), returned


def resolve(value: Any) -> Any:
    """Resolve an Output (or a dict of them) from a finished mocked run, secrets masked."""
    _ensure_event_loop()
    output = pulumi.Output.from_input(value)
    return mask_secrets(contextvars.copy_context().run(lambda: _sync_await(output.future())))


def run_program(stack: str, config: Mapping[str, Any], project_dir: Path) -> Rendering:
    """Run the Pulumi program with ``config`` (full keys -> values) under the mock runtime."""
    from stacks.program import main

    region = str(config.get("aws:region") or "us-east-1")
    resources, outputs = run_mocked(lambda: main(project_dir), stack, config, region)
    return Rendering(stack=stack, resources=resources, outputs=resolve(outputs.exports()))


def render_stack(project_dir: Path, stack: str) -> Rendering:
    """Render ``Pulumi.<stack>.yaml`` of ``project_dir`` (unknown stacks list the known ones)."""
    check_project(project_dir)
    return run_program(stack, read_stack_config(project_dir, stack), project_dir)
