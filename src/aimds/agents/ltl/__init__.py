"""Temporal policy language: parse formulas, compile runtime monitors, check finished traces."""

from aimds.agents.ltl.errors import PolicyError, PolicySyntaxError
from aimds.agents.ltl.parser import parse

__all__ = ["PolicyError", "PolicySyntaxError", "parse"]
