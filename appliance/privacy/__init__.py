"""Personal data: find, export and erase everything about a caller; retention (docs/PRIVACY.md).

Rank 2.5 in ``tests/unit/test_layers.py``: imports core, store and booking only.
"""
