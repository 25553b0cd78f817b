"""Revisions of the incident store schema, oldest first."""
