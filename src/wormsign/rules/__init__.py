"""The rule model, the rule-pack loader and the built-in pack (``packs/*.yml``)."""
