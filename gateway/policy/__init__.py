"""Routing policy: the YAML schema (``schema``) and its loader (``loader``)."""

from gateway.policy.loader import PolicyError, load_policy, load_policy_text
from gateway.policy.schema import Policy

__all__ = ["Policy", "PolicyError", "load_policy", "load_policy_text"]
