"""Fixtures of the shop tests."""

from tests.observability_helpers import json_lines, spans  # noqa: F401  (fixtures)
