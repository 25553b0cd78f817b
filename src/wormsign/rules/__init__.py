"""The rule model, the rule-pack loader and the built-in pack (``packs/*.yml``)."""

from wormsign.rules.loader import load_pack
from wormsign.rules.model import Burst, Condition, Family, Rule, RulePack

__all__ = ["Burst", "Condition", "Family", "Rule", "RulePack", "load_pack"]
