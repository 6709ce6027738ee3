"""The prometheus-operator ``PrometheusRule`` output for Sloth's Kubernetes CRD input.

As Sloth v0.16 writes it (internal/plugin/k8stransform/prom_operator_prometheus_rule_v1 and
internal/storage/io/k8s_obj.go): one ``monitoring.coreos.com/v1`` ``PrometheusRule`` per
``PrometheusServiceLevel`` document, with the CRD's name, namespace, labels and annotations,
plus the labels ``app.kubernetes.io/component: SLO`` and ``app.kubernetes.io/managed-by:
sloth``; ``spec.groups`` holds the document's rule groups in order. Keys are sorted, as
Kubernetes' YAML serializer writes them.

The metadata is read back from the spec files, which the loader has already validated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
import yaml_rs

from alerting import crd, formats, names
from alerting.compiler import RuleFile
from alerting.spec import SpecLoader
from sre_platform.errors import CompileError, Problem, SpecError
from sre_platform.yamlfile import load_documents, read_text

RULES = "rules"
PROMETHEUS_RULE = "prometheus-rule"
AUTO = "auto"
OUTPUT_FORMATS = (AUTO, RULES, PROMETHEUS_RULE)
SLOTH_LABELS = {"app.kubernetes.io/component": "SLO", "app.kubernetes.io/managed-by": "sloth"}


@dataclass(frozen=True)
class KubernetesObject:
    """One CRD document: its metadata and the ids of its SLOs."""

    meta: crd.KubernetesMeta
    slo_ids: tuple[str, ...]


def objects_of(path: str) -> tuple[list[KubernetesObject], int]:
    """The CRD documents of a validated spec file, and how many documents are not CRDs."""
    text = read_text(path)
    if "PrometheusServiceLevel" not in text and "\\" not in text:
        # No document can be a CRD (its kind is not even spelled with an escape): skip a second
        # YAML parse of every spec file (it cost `sre slo compile` a third of its time).
        return [], 1  # a compiled spec file holds at least one document
    documents = load_documents(text, path, loader_class=SpecLoader)
    objects, others = [], 0
    for document in documents:
        if not isinstance(document, dict) or formats.detect(document) != formats.KUBERNETES:
            others += 1
            continue
        parsed = crd.PrometheusServiceLevel.model_validate(document)
        service = parsed.spec["service"]
        ids = tuple(f"{service}-{slo['name']}" for slo in parsed.spec["slos"])
        objects.append(KubernetesObject(parsed.metadata, ids))
    return objects, others


def choose(files: Sequence[RuleFile], requested: str) -> tuple[str, dict[str, Any]]:
    """The output format for ``files`` and, for prometheus-rule, each file's CRD objects.

    ``auto`` is Sloth's choice: prometheus-rule when every input document is a CRD, rules when
    none is. Raises SpecError naming a file that the chosen format cannot be written for.
    """
    if requested == RULES:
        return RULES, {}
    found = {rule_file.source: objects_of(rule_file.source) for rule_file in files}
    crd_files = [source for source, (objects, _) in found.items() if objects]
    mixed = [source for source, (objects, others) in found.items() if others]
    if requested == AUTO:
        if not crd_files:
            return RULES, {}
        if mixed:
            raise SpecError(
                [
                    Problem(
                        "the inputs mix Kubernetes PrometheusServiceLevel documents with other "
                        "formats: choose --output-format rules (one rules file) or give them "
                        "separately",
                        file=source,
                    )
                    for source in mixed
                ]
            )
    elif mixed:
        raise SpecError(
            [
                Problem(
                    "--output-format prometheus-rule needs Kubernetes metadata, which only "
                    "sloth.slok.dev/v1 PrometheusServiceLevel documents have",
                    file=source,
                )
                for source in mixed
            ]
        )
    return PROMETHEUS_RULE, {source: objects for source, (objects, _) in found.items()}


def _block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, _block)


def object_document(obj: KubernetesObject, rule_file: RuleFile) -> dict[str, Any]:
    """The PrometheusRule of one CRD document, as plain data."""
    wanted = {
        prefix + slo_id
        for slo_id in obj.slo_ids
        for prefix in (names.GROUP_SLI, names.GROUP_META, names.GROUP_ALERTS)
    }
    metadata: dict[str, Any] = {
        "name": obj.meta.name,
        "labels": {**obj.meta.labels, **SLOTH_LABELS},
    }
    if obj.meta.namespace:
        metadata["namespace"] = obj.meta.namespace
    if obj.meta.annotations:
        metadata["annotations"] = dict(obj.meta.annotations)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": [g for g in rule_file.groups if g["name"] in wanted]},
    }


def render(rule_file: RuleFile, objects: Sequence[KubernetesObject]) -> str:
    """The PrometheusRule documents of one spec file, parsed back and checked."""
    header = (
        f"# Code generated by sre-platform from {rule_file.source}.\n"
        "# DO NOT EDIT: change the spec and run `sre slo compile`.\n"
    )
    documents = [object_document(obj, rule_file) for obj in objects]
    parts = [
        header + yaml.dump(doc, Dumper=_Dumper, sort_keys=True, width=1 << 30) for doc in documents
    ]
    text = "---\n" + "---\n".join(parts)
    for part, document in zip(parts, documents, strict=True):
        if yaml_rs.loads(part, parse_datetime=False) != document:
            raise CompileError(f"{rule_file.source}: the PrometheusRule does not read back")
    return text
