"""Tokens for the students: tokenizers (``tokenizer.py``), the on-disk token store (``store.py``),
and length-bucketed, padded batches (``batches.py``).

Only the training side imports this package, so torch and numpy are imported at
module top; the web process never imports it (tests/distill/test_purity.py).
"""
