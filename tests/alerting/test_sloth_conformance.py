"""Same rules as Sloth for the same spec: compared with Sloth's own golden output.

The reference pair lives in ../shared/conformance/sloth (beside the checkout, as in CI); it is
read in place, never copied. Sloth's output is a Go template: its version placeholder and
escaped `{{$labels.x}}` are resolved before comparing the parsed rules.
"""

from __future__ import annotations

import re

import pytest
import yaml

from alerting import compile_specs
from alerting.names import LABEL_VERSION
from tests.alerting.helpers import ROOT

PAIR = ROOT.parent / "shared" / "conformance" / "sloth" / "pair1-base-30d"


def _without_version(document: dict) -> dict:
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.get("labels", {}).pop(LABEL_VERSION, None)
    return document


@pytest.mark.skipif(not PAIR.exists(), reason="../shared/conformance is not beside this checkout")
def test_the_30_day_rules_match_sloth_rule_for_rule() -> None:
    template = (PAIR / "out-base.yaml.tpl").read_text(encoding="utf-8")
    expected_text = re.sub(r'\{\{"(\{\{[^}]*\}\})"\}\}', r"\1", template).replace(
        "{{ .version }}", "v"
    )
    expected = _without_version(yaml.safe_load(expected_text))
    (rule_file,) = compile_specs([PAIR / "in-base.yaml"])
    assert _without_version({"groups": rule_file.groups}) == expected
