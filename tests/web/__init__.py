"""Tests of wormsign.web (the dashboard); helpers in ``helpers``."""
