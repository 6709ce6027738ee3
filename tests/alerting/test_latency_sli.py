"""The latency SLI's rules, evaluated by promtool: bad events are total minus the good bucket.

Clients print bucket bounds differently (Go `1`, Python `1.0`, some `0.040`); the recorded ratio
must be the same whichever the histogram uses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerting import compile_specs
from tests.alerting.helpers import run_promtool, write_spec

SPEC = """\
  - name: latency
    objective: 99
    sli:
      latency:
        histogram: order_execution_seconds
        selector: '{{job="exchange"}}'
        threshold: {threshold}
    alerting:
      page_alert: {{disable: true}}
      ticket_alert: {{disable: true}}
"""


@pytest.mark.parametrize(
    ("threshold", "le"),
    [
        pytest.param("1", "1", id="a Go client's le of 1 matches a threshold of 1"),
        pytest.param("1", "1.0", id="a Python client's le of 1.0 matches a threshold of 1"),
        pytest.param("0.04", "0.04", id="le 0.04 matches a threshold of 0.04"),
        pytest.param("0.040", "0.040", id="a padded le of 0.040 matches a threshold of 0.040"),
    ],
)
def test_latency_error_ratio_is_total_minus_the_threshold_bucket(
    tmp_path: Path, threshold: str, le: str
) -> None:
    spec = write_spec(tmp_path, SPEC.format(threshold=threshold))
    (rule_file,) = compile_specs([spec])
    (tmp_path / "rules.yaml").write_text(rule_file.text)
    # 100 requests a minute, 90 of them within the threshold: a 10% error ratio.
    job = 'job="exchange"'
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'order_execution_seconds_bucket{{{job}, le="{le}"}}',
                        "values": "0+90x20",
                    },
                    {
                        "series": f'order_execution_seconds_bucket{{{job}, le="0.5"}}',
                        "values": "0+80x20",
                    },
                    {
                        "series": f'order_execution_seconds_bucket{{{job}, le="+Inf"}}',
                        "values": "0+100x20",
                    },
                    {"series": f"order_execution_seconds_count{{{job}}}", "values": "0+100x20"},
                    {"series": 'order_execution_seconds_count{job="other"}', "values": "0+1000x20"},
                ],
                "promql_expr_test": [
                    {
                        "expr": 'round(slo:sli_error:ratio_rate5m{sloth_slo="latency"}, 0.0001)',
                        "eval_time": "10m",
                        "exp_samples": [
                            {
                                "labels": '{sloth_id="exchange-latency", '
                                'sloth_service="exchange", sloth_slo="latency", sloth_window="5m"}',
                                "value": 0.1,
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(tests))
    result = run_promtool("test", "rules", tmp_path / "test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
