"""docs/error-budget-policy.md stays consistent with the policy file it explains."""

from __future__ import annotations

from pathlib import Path

import pytest

from budget.gate import Outcome
from budget.policy import PolicySpec, load_policy
from sre_platform.cli.prometheus_options import MAX_TIMEOUT_SECONDS
from sre_platform.prometheus import DEFAULT_TIMEOUT_SECONDS, MAX_RESPONSE_BYTES

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "error-budget-policy.md").read_text(encoding="utf-8")
POLICY = load_policy(ROOT / "ops" / "error-budget-policy.yaml")
TIERS = sorted(
    {tier.name for rules in (POLICY.default, *POLICY.services.values()) for tier in rules.tiers}
)


@pytest.mark.parametrize("tier", TIERS, ids=[f"the {t} tier is described" for t in TIERS])
def test_every_tier_in_the_policy_file_has_a_section_in_the_doc(tier: str) -> None:
    assert f"\n### {tier}\n" in DOC


FIELDS = sorted(PolicySpec.model_fields)


@pytest.mark.parametrize("field", FIELDS, ids=[f"the {f} field is explained" for f in FIELDS])
def test_every_top_level_field_is_explained(field: str) -> None:
    assert f"`{field}" in DOC


README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "outcome", list(Outcome), ids=[f"the exit code of {o.value} is documented" for o in Outcome]
)
def test_every_gate_outcome_has_its_exit_code_in_the_doc_and_the_readme(outcome: Outcome) -> None:
    assert f"\n| {outcome.exit_code} | " in DOC
    assert f"\n| {outcome.exit_code} | " in README


@pytest.mark.parametrize(
    "text",
    [
        f"`--timeout`, {DEFAULT_TIMEOUT_SECONDS:g} seconds by default",
        f"larger than 10 MB ({MAX_RESPONSE_BYTES:,} bytes, after decompression)",
        f"at most {MAX_TIMEOUT_SECONDS:g} seconds",
    ],
    ids=["the default deadline", "the size cap", "the longest deadline"],
)
def test_the_doc_states_the_limits_the_code_enforces(text: str) -> None:
    assert text in " ".join(DOC.split())
