"""Remediation as code: alerts -> the policy's rules and guardrails -> actions -> audit.

- ``remediation.policy``: ops/remediation.yaml validated (pydantic) into ``remediation.model``;
- ``remediation.engine``: :func:`~remediation.engine.remediate` (decide, act, audit);
- ``remediation.guardrails``: the action budget and cooldown, and the StateStore protocol;
- ``remediation.alerts``: Alertmanager webhook payloads and SNS events -> alerts;
- ``remediation.store`` (lab: files) and ``remediation.dynamo`` (AWS: DynamoDB);
- ``remediation.aws`` (Auto Scaling + SSM actuator) and ``remediation.handler`` (the Lambda).

Nothing here imports at package import time: the Lambda is packaged with the modules it needs
only (no pydantic, no YAML); see components/remediation.py.
"""
