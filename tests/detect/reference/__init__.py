"""A frozen copy of the detection core as it was before the columnar rewrite (issue 9).

Kept only as a reference: ``tests/detect/test_equivalence.py`` checks that the new core gives
the same families, sources and alert lists as this one on the sample and every fixture log.
Do not change these modules to make a test pass; they are the old behaviour.
"""
