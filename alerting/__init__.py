"""The SLO compiler: Sloth-compatible SLO specs to Prometheus recording and alerting rules.

Data flows one way: spec files -> ``spec`` models -> ``validation`` -> frozen ``model`` ->
``generate`` (pure) -> ``render`` (Jinja2, parsed back and checked) -> files.
"""

from alerting.compiler import RuleFile, compile_specs, merge_rule_files

__all__ = ["RuleFile", "compile_specs", "merge_rule_files"]
