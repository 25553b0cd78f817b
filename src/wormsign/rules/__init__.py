"""The rule model, the rule-pack loader and the built-in packs (``packs/*.yml``); the
connection rules of ``packs/network.yml`` and their loader (``netloader``)."""

from wormsign.rules.loader import load_pack
from wormsign.rules.model import Burst, Condition, Family, Rule, RulePack

__all__ = ["Burst", "Condition", "Family", "Rule", "RulePack", "load_pack"]
