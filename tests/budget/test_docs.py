"""docs/error-budget-policy.md stays consistent with the policy file it explains."""

from __future__ import annotations

from pathlib import Path

import pytest

from budget.policy import PolicySpec, load_policy

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
