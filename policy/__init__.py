"""The security baseline: pure rules (``policy.baseline``) and the pulumi-policy pack around them.

Run it with a real preview: ``pulumi preview --policy-pack policy``.
"""
