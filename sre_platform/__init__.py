"""Shared core of sre-platform: the error hierarchy, durations, atomic file output and the CLI."""
