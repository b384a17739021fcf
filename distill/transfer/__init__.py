"""Transfer-set generation: new, unlabelled training texts made from the training texts, for the teacher to label.

* ``generators.py`` masking words, swapping words for others of the same part of speech, n-gram windows
  (Tang et al. 2019), each a function of a source's jieba words and a seeded numpy Generator
* ``mlm.py``        ``MlmSampler``: whole words re-sampled by the teacher's masked-LM head (TinyBERT), batched;
  ``mlm_head_available`` says whether a checkpoint has that head
* ``builder.py``    ``generate_transfer_rows``: distinct variants up to a target, deduplicated against the
  corpus, on disk with each row's source and method (``GeneratedRows``), reused on resume

Engine only: torch, transformers, jieba and numpy, never the web stack.
"""
from __future__ import annotations

from .builder import GeneratedRows, generate_transfer_rows, load_generated_rows
from .generators import MASK_TOKEN
from .mlm import MlmSampler, mlm_head_available

__all__ = ["MASK_TOKEN", "GeneratedRows", "MlmSampler", "generate_transfer_rows", "load_generated_rows",
           "mlm_head_available"]
