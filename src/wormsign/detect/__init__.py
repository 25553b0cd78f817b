"""Matching requests against rules and attributing sources to worm families."""
