"""The demo teacher: a small randomly initialised BERT with a character vocabulary, for corpora without a teacher.

It is honestly not pretrained; the pipeline fine-tunes it on the corpus's labeled rows first.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..config import TeacherConfig
from ..errors import ConfigError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build_vocab_tokenizer(texts: Sequence[str], directory: str | Path):
    """A BERT WordPiece tokenizer whose vocabulary is every character in ``texts``; saved into ``directory``.

    Chinese characters are split one per token by the BERT pre-tokenizer; other scripts form
    words, so each non-CJK character is also added as a "##" continuation piece.
    """
    from transformers import BertTokenizerFast

    characters: set[str] = set()
    for text in texts:
        characters.update(text.lower())  # the tokenizer lowercases before lookup
    vocab = list(SPECIAL_TOKENS)
    for char in sorted(characters):
        if char.isspace() or not char.isprintable():
            continue
        vocab.append(char)
        if not _is_cjk(char):
            vocab.append("##" + char)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)})
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2FA1F or 0xF900 <= code <= 0xFAFF


def build_demo_teacher(texts: Sequence[str], labels: list[str], cfg: TeacherConfig, directory: str | Path,
                       max_length: int = 128, seed: int = 0, task: str = "single") -> Path:
    """Save a small randomly initialised BERT classifier + character tokenizer with save_pretrained.

    ``task="tagging"`` saves a token classifier (one score per tag and token) for the tags ``labels``.

    It is honestly not pretrained. The head's label names are placeholders, so ``load_teacher``
    sees a head that does not match the corpus labels and asks for fine-tuning,
    exactly as it would for a hub checkpoint without a head.
    """
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

    if cfg.demo_hidden_size % cfg.demo_heads:
        raise ConfigError("demo_hidden_size must be divisible by demo_heads", code="config_demo_heads")
    directory = Path(directory)
    tokenizer = build_vocab_tokenizer(texts, directory)
    config = BertConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=cfg.demo_hidden_size,
        num_hidden_layers=cfg.demo_layers,
        num_attention_heads=cfg.demo_heads,
        intermediate_size=cfg.demo_hidden_size * 4,
        max_position_embeddings=max(max_length + 2, 64),  # [CLS] and [SEP] come on top of max_length
        num_labels=len(labels),
        # Names no corpus uses, so load_teacher never mistakes this random head for a trained one.
        id2label={i: f"untrained-head-{i}" for i in range(len(labels))},
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = (BertForTokenClassification if task == "tagging" else BertForSequenceClassification)(config)
    model.save_pretrained(str(directory))  # safetensors is the default serialisation
    return directory


def demo_teacher_parameters(cfg: TeacherConfig, vocab_size: int, num_labels: int, max_length: int = 128,
                            task: str = "single") -> int:
    """Parameters of the demo teacher ``build_demo_teacher`` would build over ``vocab_size`` tokens, counted
    from its shape without building it (a test checks the count against a built one)."""
    hidden, inner = cfg.demo_hidden_size, cfg.demo_hidden_size * 4
    positions = max(max_length + 2, 64)
    embeddings = (vocab_size + positions + 2) * hidden + 2 * hidden  # tokens, positions, 2 token types; LayerNorm
    layer = (4 * (hidden * hidden + hidden) + 2 * hidden  # query, key, value, output; LayerNorm
             + hidden * inner + inner + inner * hidden + hidden + 2 * hidden)  # feed-forward; LayerNorm
    pooler = 0 if task == "tagging" else hidden * hidden + hidden  # a token classifier has no pooler
    head = hidden * num_labels + num_labels
    return embeddings + cfg.demo_layers * layer + pooler + head
