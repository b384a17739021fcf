"""Masked-LM pre-training of the demo teacher on the corpus's own training texts, before it is fine-tuned.

The demo teacher is a BERT trained from scratch (no hub here). Fine-tuned straight from random
weights on a few thousand labelled reviews, it ends up no better than a small labels-only
student, so it has nothing to teach. Learning to fill in masked characters of the same texts
first ("self-pretraining", Krishna et al. 2023: downstream datasets make surprisingly good
pretraining corpora) gives its encoder something a student cannot get from the labels, and
leaves it a masked-LM head, so teacher-MLM sampling (distill.transfer) works offline too.
Only training texts are used: dev and test stay unseen.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..progress import STAGE_PREPARING, NullReporter, Reporter, RunCancelled

MLM_PROBABILITY = 0.15  # BERT's share of masked tokens
MLM_BATCH_SIZE = 32  # texts per step; the demo teacher is small, so a CPU takes this comfortably
WARMUP_SHARE = 0.1  # linear warm-up, then linear decay: from-scratch transformers diverge without it


def pretrain_demo_teacher(directory: str | Path, texts: Sequence[str], *, epochs: int, learning_rate: float,
                          max_length: int, seed: int, device: torch.device,
                          reporter: Reporter | None = None) -> Path:
    """Train the saved demo teacher in ``directory`` as a masked LM on ``texts`` for ``epochs``; save it back.

    The folder then holds a BertForMaskedLM (encoder + masked-LM head) with the demo's config and
    tokenizer; loading it for classification adds a new head, which the pipeline fine-tunes as for
    any teacher without one. Deterministic for a seed on the CPU, so two runs build the same teacher.
    """
    from transformers import (AutoTokenizer, BertForMaskedLM, DataCollatorForLanguageModeling,
                              get_linear_schedule_with_warmup)

    reporter = reporter or NullReporter()
    directory = Path(directory)
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    torch.manual_seed(seed)
    model = BertForMaskedLM.from_pretrained(str(directory), local_files_only=True, use_safetensors=True).to(device)
    model.train()
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MLM_PROBABILITY, return_tensors="pt")
    rows = np.flatnonzero(np.fromiter((bool(text) for text in texts), dtype=bool, count=len(texts)))  # (N,)
    steps_per_epoch = math.ceil(len(rows) / MLM_BATCH_SIZE)
    total = max(1, steps_per_epoch * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(WARMUP_SHARE * total), total)
    order_rng = np.random.default_rng(seed)
    done = 0
    for _ in range(epochs):
        order = order_rng.permutation(rows)  # (N,)
        for begin in range(0, len(order), MLM_BATCH_SIZE):
            batch = [texts[int(row)] for row in order[begin:begin + MLM_BATCH_SIZE]]
            encoded = tokenizer(batch, truncation=True, max_length=max_length)
            masked = collator([{"input_ids": ids} for ids in encoded["input_ids"]])  # input_ids, labels: (B, T)
            attention_mask = (masked["input_ids"] != tokenizer.pad_token_id).long()  # (B, T)
            loss = model(input_ids=masked["input_ids"].to(device), attention_mask=attention_mask.to(device),
                         labels=masked["labels"].to(device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            reporter.on_progress(STAGE_PREPARING, {"done": done, "total": total, "loss": float(loss.detach())})
            if reporter.should_stop():
                raise RunCancelled()
    model.eval()
    model.save_pretrained(str(directory))
    return directory
