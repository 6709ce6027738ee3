"""Pulumi components of sre-platform: one ComponentResource per module.

Each takes a typed ``<Name>Args`` dataclass, declares its children as ``f"{name}-<part>"`` with
``parent=self``, defaults to the secure choice, and registers its outputs last. Components
compile nothing: compiled SLO rules and other artifacts come in through their arguments.
"""
