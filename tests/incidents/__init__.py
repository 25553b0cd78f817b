"""Tests of wormsign.incidents; helpers in ``helpers``."""
