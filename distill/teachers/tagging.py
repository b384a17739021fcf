"""The tagging (NER) teacher: a token classifier loaded or built, fine-tuned on character tags, and its
outputs brought back to one row per character, cached on disk.

Everything the student sees is per character (tasks/tagging.py keeps one BIO tag per character), so a
character student and the teacher line up 1:1 whatever the teacher's tokenizer does. The teacher's
per-token scores become per-character log-probabilities: a character a token starts gets the token's
distribution; a later character of a multi-character token ("2024", "iPhone") gets it with the mass of
every B-X moved onto I-X, since it continues whatever entity the token is in; a character no token
covers (a space the tokenizer dropped, text cut off by truncation) gets mask 0: no teacher signal.

The fine-tune labels the first sub-token of each word (teachers/tag_alignment.py) and is scored by
entity F1 on the dev rows, through the one training loop, like the text teacher's (finetune.py).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_text_atomically
from ..config import RunConfig, TeacherConfig
from ..errors import ConfigError
from ..progress import NullReporter, Reporter
from ..tasks.tagging_metrics import entity_metrics
from ..tasks.tagging_schemes import TagError, split_tag
from ..training.loop import DevResult
from ..training.losses import IGNORE_INDEX
from .finetune import (FINETUNE_MARKER, TEACHER_CHECKPOINT_DIR, _epoch_order, finetune_once, finetuned_dir,
                       run_finetune_job)
from .labelling import (LabellingProgress, cache_key, inference, labelling_lock, length_order, reopen_partial,
                        run_labelling, texts_digest)
from .loading import LoadedTeacher, load_teacher
from .tag_alignment import char_tags_from_tokens, token_labels

TAGGING_TASK = "tagging"  # the task name load_teacher and build_demo_teacher take for a token classifier
_TAGGING_FINETUNE_FORMAT = 1  # part of tagging_finetune_key: bump it when the fine-tune's recipe changes
_CHAR_LOGITS_FORMAT = 1  # part of every char-logits cache key: bump it when the mapping or the layout changes
# The log-probability an emptied B-X gets inside a word: e^-20 (2e-9) adds no visible mass, and unlike
# -inf it keeps temperature scaling and an MSE on logits finite.
LOG_PROB_FLOOR = -20.0


def load_tagging_teacher(cfg: TeacherConfig, tag_names: list[str], name_or_path: str | None = None) -> LoadedTeacher:
    """A token-classification teacher for ``tag_names`` (BIO, "O" included); ``needs_finetune`` unless the
    checkpoint's id2label is exactly these tags (a hub model without a NER head, or the demo teacher, has other names)."""
    return load_teacher(cfg, tag_names, name_or_path=name_or_path, task=TAGGING_TASK)


# --- fine-tuning -------------------------------------------------------------------------------------------


def tagging_finetune_key(source_fingerprint: str, tag_names: list[str], train_texts: Sequence[str],
                         train_tags: Sequence[Sequence[str] | None], dev_texts: Sequence[str],
                         dev_tags: Sequence[Sequence[str] | None], cfg: RunConfig) -> str:
    """What a tagging fine-tune's weights depend on, hashed: teacher, tags, train and dev rows, every setting."""
    tcfg = cfg.teacher
    identity = {
        "format": _TAGGING_FINETUNE_FORMAT, "task": TAGGING_TASK, "source_fingerprint": source_fingerprint,
        "tags": list(tag_names), "train": texts_digest(train_texts), "train_tags": _tags_digest(train_tags),
        "dev": texts_digest(dev_texts), "dev_tags": _tags_digest(dev_tags),
        "epochs": tcfg.finetune_epochs, "learning_rate": _learning_rate(tcfg),
        "batch_size": tcfg.finetune_batch_size, "max_length": cfg.data.max_length, "seed": cfg.train.seed,
        "amp": cfg.train.amp,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def finetune_tagging_teacher(loaded: LoadedTeacher, train_texts: Sequence[str],
                             train_tags: Sequence[Sequence[str] | None], dev_texts: Sequence[str],
                             dev_tags: Sequence[Sequence[str] | None], tag_names: list[str], cfg: RunConfig,
                             device: torch.device, reporter: Reporter | None, output_dir: str | Path) -> LoadedTeacher:
    """Train a token-classification teacher on character tags; keep the best-dev-F1 weights in the shared cache.

    ``train_tags[i]`` is one BIO tag per character of ``train_texts[i]`` (None: an unlabeled row, skipped).
    Each word's first sub-token is trained on its first character's tag, the others are ignored
    (tag_alignment.token_labels). The dev score is entity F1 (seqeval) of the character tags the
    predictions give back (tag_alignment.char_tags_from_tokens). As in ``finetune.finetune_teacher``: the
    result lives in ``finetuned_dir(cfg.cache_dir, tagging_finetune_key(...))`` and is reused by any run
    with the same inputs; the position is checkpointed in ``output_dir/teacher_checkpoint`` and resumed.
    """
    reporter = reporter or NullReporter()
    target = finetuned_dir(cfg.cache_dir, tagging_finetune_key(loaded.fingerprint, tag_names, train_texts, train_tags,
                                                               dev_texts, dev_tags, cfg))
    checkpoint_dir = Path(output_dir) / TEACHER_CHECKPOINT_DIR
    return finetune_once(target, loaded.fingerprint, tag_names, checkpoint_dir, reporter,
                         reload=lambda: reload_tagging_finetuned(cfg.teacher, tag_names, target),
                         train=lambda: _finetune(loaded, train_texts, train_tags, dev_texts, dev_tags, tag_names, cfg,
                                                 device, reporter, target, checkpoint_dir))


def reload_tagging_finetuned(cfg: TeacherConfig, tag_names: list[str], directory: str | Path) -> LoadedTeacher:
    local_cfg = copy.copy(cfg)
    local_cfg.local_files_only = True  # a local folder never needs the network
    return load_tagging_teacher(local_cfg, tag_names, name_or_path=str(directory))


def _finetune(loaded: LoadedTeacher, train_texts: Sequence[str], train_tags: Sequence[Sequence[str] | None],
              dev_texts: Sequence[str], dev_tags: Sequence[Sequence[str] | None], tag_names: list[str],
              cfg: RunConfig, device: torch.device, reporter: Reporter, target: Path,
              checkpoint_dir: Path) -> LoadedTeacher:
    """The fine-tune itself, through the one loop, resumable from ``checkpoint_dir``, ending in ``target``."""
    from transformers import get_linear_schedule_with_warmup

    train_rows = _tagged_rows(train_texts, train_tags, "train")  # (N_l,)
    dev_rows = _tagged_rows(dev_texts, dev_tags, "dev")  # (N_dev_l,)
    if not len(train_rows):
        raise ConfigError(
            "The teacher has no trained head for these tags and the training file has no tagged rows to fine-tune it on.",
            code="config_no_labels_for_teacher",
        )
    tag_ids = {tag: index for index, tag in enumerate(tag_names)}
    tcfg = cfg.teacher
    lr = _learning_rate(tcfg)
    batch_size = tcfg.finetune_batch_size
    max_length = cfg.data.max_length
    model = loaded.model.to(device)
    tokenizer = loaded.tokenizer
    steps_per_epoch = math.ceil(len(train_rows) / batch_size)
    total_steps = max(1, steps_per_epoch * tcfg.finetune_epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    dev_order = length_order(dev_texts, dev_rows)  # (N_dev_l,) longest first, so dev batches pad little
    signature = {
        "source_fingerprint": loaded.fingerprint, "tags": list(tag_names), "task": TAGGING_TASK,
        "settings": {"epochs": tcfg.finetune_epochs, "learning_rate": lr, "batch_size": batch_size,
                     "max_length": max_length, "seed": cfg.train.seed, "amp": cfg.train.amp},
        # Row counts and tag digests, not the texts: hashing a huge corpus again costs a full read.
        "data": {"train_rows": len(train_texts), "train_tags": _tags_digest(train_tags),
                 "dev_rows": len(dev_texts), "dev_tags": _tags_digest(dev_tags)},
    }

    def encode(texts: Sequence[str], tags: Sequence[Sequence[str]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        pairs = [token_labels(text, list(text_tags), tokenizer, tag_ids, max_length)
                 for text, text_tags in zip(texts, tags)]
        return _padded(pairs, tokenizer.pad_token_id or 0, device)

    def epoch_batches(epoch: int) -> list[np.ndarray]:
        order = _epoch_order(train_rows, cfg.train.seed, epoch)  # (N_l,)
        return [order[position * batch_size:(position + 1) * batch_size] for position in range(steps_per_epoch)]

    def forward(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        encoded, labels = encode([train_texts[int(row)] for row in rows], [train_tags[int(row)] for row in rows])
        return model(**encoded).logits, labels  # (B, T, C), (B, T)

    def batch_loss(forwarded: tuple[torch.Tensor, torch.Tensor], step: int) -> tuple[torch.Tensor, dict]:
        logits, labels = forwarded
        return _token_cross_entropy(logits.float(), labels), {}

    def evaluate() -> DevResult:
        if not len(dev_rows):
            return DevResult(score=None, metrics={"dev_entity_f1": float("nan"), "dev_loss": float("nan")})
        gold: list[list[str]] = []
        predicted: list[list[str]] = []
        loss_sum, loss_tokens = 0.0, 0
        with inference(model, device, cfg.train.amp):
            for begin in range(0, len(dev_order), tcfg.inference_batch_size):
                rows = dev_order[begin:begin + tcfg.inference_batch_size]  # (B,)
                texts = [dev_texts[int(row)] for row in rows]
                tags = [list(dev_tags[int(row)]) for row in rows]
                encoded, labels = encode(texts, tags)  # input_ids (B, T), labels (B, T)
                logits = model(**encoded).logits.float()  # (B, T, C)
                counted = int((labels != IGNORE_INDEX).sum())
                if counted:
                    loss_sum += float(_token_cross_entropy(logits, labels)) * counted
                    loss_tokens += counted
                token_tags = logits.argmax(-1).masked_fill(labels == IGNORE_INDEX, IGNORE_INDEX).cpu()  # (B, T)
                for index, text in enumerate(texts):
                    offsets = _offsets(tokenizer, text, max_length)
                    predicted.append(char_tags_from_tokens(text, offsets, token_tags[index, :len(offsets)].tolist(),
                                                           tag_names))
                gold.extend(tags)
        scores = entity_metrics(gold, predicted)
        return DevResult(score=scores["f1"], metrics={
            "dev_entity_f1": scores["f1"], "dev_loss": loss_sum / loss_tokens if loss_tokens else float("nan")})

    return run_finetune_job(model, tokenizer, optimizer, scheduler, epoch_batches, steps_per_epoch, forward,
                            batch_loss, evaluate, signature, cfg, device, reporter, target, checkpoint_dir,
                            save=lambda best: _save_finetuned(model, tokenizer, target, loaded.fingerprint, tag_names,
                                                              best if len(dev_rows) else None))


def _learning_rate(tcfg: TeacherConfig) -> float:
    return tcfg.demo_learning_rate if tcfg.demo else tcfg.finetune_learning_rate


def _tagged_rows(texts: Sequence[str], tags: Sequence[Sequence[str] | None], name: str) -> np.ndarray:
    """Indices of the rows with tags, after checking there is one tag per character."""
    if len(tags) != len(texts):
        raise ValueError(f"{len(tags)} {name} tag sequences for {len(texts)} {name} texts")
    rows = []
    for row, text_tags in enumerate(tags):
        if text_tags is None:
            continue
        if len(text_tags) != len(texts[row]):
            raise ValueError(f"{name} row {row} has {len(text_tags)} tags for {len(texts[row])} characters")
        rows.append(row)
    return np.asarray(rows, dtype=np.int64)


def _tags_digest(tags: Sequence[Sequence[str] | None]) -> str:
    # A row's tags joined by spaces, rows by newlines, None as "-": BIO tags hold neither separator.
    digest = hashlib.sha256()
    for text_tags in tags:
        digest.update(("-" if text_tags is None else " ".join(text_tags)).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _padded(pairs: list[tuple[list[int], list[int]]], pad_id: int,
            device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A batch of (input_ids, labels) pairs padded on the right: model inputs and (B, T) labels, IGNORE_INDEX on padding."""
    width = max(len(ids) for ids, _ in pairs)
    input_ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((len(pairs), width), dtype=torch.long)  # (B, T)
    labels = torch.full((len(pairs), width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
    for index, (ids, text_labels) in enumerate(pairs):
        input_ids[index, :len(ids)] = torch.as_tensor(ids)
        attention_mask[index, :len(ids)] = 1
        labels[index, :len(text_labels)] = torch.as_tensor(text_labels)
    encoded = {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
    return encoded, labels.to(device)


def _token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # logits (B, T, C) float32, labels (B, T); a batch with no labelled token (cannot happen for non-empty
    # texts, but cross_entropy would answer nan) gives a zero loss that still has a graph.
    if not bool((labels != IGNORE_INDEX).any()):
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=IGNORE_INDEX)


def _offsets(tokenizer: Any, text: str, max_length: int) -> list[tuple[int, int]]:
    encoding = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
    return [tuple(pair) for pair in encoding["offset_mapping"]]


def _save_finetuned(model: Any, tokenizer: Any, target: Path, source_fingerprint: str, tag_names: list[str],
                    dev_entity_f1: float | None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / FINETUNE_MARKER).unlink(missing_ok=True)  # an interrupted save must not look finished
    # The head's names become the tags, so load_tagging_teacher sees a trained head for them.
    model.config.id2label = dict(enumerate(tag_names))
    model.config.label2id = {tag: index for index, tag in enumerate(tag_names)}
    model.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    marker = {"source_fingerprint": source_fingerprint, "labels": list(tag_names), "task": TAGGING_TASK,
              "dev_entity_f1": dev_entity_f1}
    write_text_atomically(target / FINETUNE_MARKER, json.dumps(marker))


# --- per-character teacher outputs ---------------------------------------------------------------------------


@dataclass
class CharLogits:
    """Teacher log-probabilities per character of every text, flat: row i is ``values[offsets[i]:offsets[i + 1]]``."""

    values: np.ndarray  # (sum of len(text), C) float32 log-probabilities (log_softmax: a softmax of them is the teacher's)
    offsets: np.ndarray  # (N + 1,) int64: where each text's characters start in values and mask
    mask: np.ndarray  # (sum of len(text),) bool: False where no token covers the character (no teacher signal)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(len(text), C) values and (len(text),) mask of text ``index``."""
        begin, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.values[begin:end], self.mask[begin:end]


def continuation_pairs(tag_names: Sequence[str]) -> list[tuple[int, int]]:
    """(index of B-X, index of I-X) for every type X that has both tags; names that are no tags pair with nothing."""
    index = {tag: position for position, tag in enumerate(tag_names)}
    pairs = []
    for position, tag in enumerate(tag_names):
        try:
            prefix, kind = split_tag(tag)
        except TagError:  # a head named LABEL_0...: nothing to continue
            continue
        if prefix == "B" and f"I-{kind}" in index:
            pairs.append((position, index[f"I-{kind}"]))
    return pairs


def continued(log_probs: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """``log_probs`` (..., C) with each B-X's probability added onto its I-X (in log space) and B-X set to LOG_PROB_FLOOR."""
    out = np.array(log_probs, dtype=np.float32, copy=True)  # (..., C)
    for begin_index, inside_index in pairs:
        out[..., inside_index] = np.logaddexp(log_probs[..., begin_index], log_probs[..., inside_index])
        out[..., begin_index] = LOG_PROB_FLOOR
    return out


def char_rows_of_tokens(text_length: int, offsets: Sequence[tuple[int, int]], token_log_probs: np.ndarray,
                        pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """One text's per-token log-probabilities (T, C) as per-character rows: ((L, C) float32, (L,) bool mask).

    A token's first character gets its row, its later characters the ``continued`` row; special tokens
    (empty offsets) are skipped; characters no token covers stay 0 with mask False.
    """
    values = np.zeros((text_length, token_log_probs.shape[-1]), dtype=np.float32)  # (L, C)
    mask = np.zeros(text_length, dtype=bool)  # (L,)
    for (start, end), row in zip(offsets, token_log_probs):
        if end <= start:
            continue
        values[start] = row
        if end - start > 1:
            values[start + 1:end] = continued(row, pairs)
        mask[start:end] = True
    return values, mask


def char_logits_key(fingerprint: str, max_length: int, texts: Sequence[str]) -> str:
    """The cache key of a char-logits entry; apart from teacher_logits' keys for the same teacher and texts."""
    base = cache_key(fingerprint, max_length, texts)
    return hashlib.sha256(f"char-logits/{_CHAR_LOGITS_FORMAT}\n{base}".encode()).hexdigest()


_ENTRY_FILES = ("values.npy", "offsets.npy", "mask.npy")


def teacher_char_logits(loaded: LoadedTeacher | None, texts: Sequence[str], max_length: int, cache_dir: str | Path,
                        batch_size: int, device: torch.device, reporter: Reporter | None = None,
                        fingerprint: str | None = None) -> tuple[CharLogits, bool]:
    """Per-character teacher log-probabilities for ``texts``, memory-mapped from the on-disk cache; (outputs, cache hit).

    The entry is a folder ``<char_logits_key>.chars`` with values.npy, offsets.npy and mask.npy; it is
    filled as a hidden partial folder, a batch at a time (longest texts first), and renamed into place
    when complete, so a half-written entry is never served. A pass killed or cancelled midway continues
    from its last save (labelling.LabellingProgress). ``loaded`` may be None when ``fingerprint`` is given
    and the entry exists: a hit never loads or runs the teacher.
    """
    reporter = reporter or NullReporter()
    fingerprint = fingerprint or (loaded.fingerprint if loaded else None)
    if fingerprint is None:
        raise ValueError("teacher_char_logits needs a loaded teacher or its fingerprint")
    entry = Path(cache_dir) / f"{char_logits_key(fingerprint, max_length, texts)}.chars"
    if _complete(entry):
        return _open_entry(entry), True
    if loaded is None:
        raise ValueError("teacher character outputs are not cached and no teacher was given")
    with labelling_lock(entry, entry, reporter):
        if _complete(entry):  # another worker finished it while this one waited
            return _open_entry(entry), True
        _label_chars(loaded, texts, max_length, batch_size, device, reporter, entry)
    return _open_entry(entry), False


def cached_char_logits_available(fingerprint: str, texts: Sequence[str], max_length: int, cache_dir: str | Path) -> bool:
    """True when ``teacher_char_logits`` would answer from the cache, so the teacher need not be loaded."""
    return _complete(Path(cache_dir) / f"{char_logits_key(fingerprint, max_length, texts)}.chars")


def _complete(entry: Path) -> bool:
    return all((entry / name).is_file() for name in _ENTRY_FILES)


def _open_entry(entry: Path) -> CharLogits:
    return CharLogits(values=np.load(entry / "values.npy", mmap_mode="r"),
                      offsets=np.load(entry / "offsets.npy"), mask=np.load(entry / "mask.npy", mmap_mode="r"))


def _label_chars(loaded: LoadedTeacher, texts: Sequence[str], max_length: int, batch_size: int,
                 device: torch.device, reporter: Reporter, entry: Path) -> None:
    """Fill the cache entry folder ``entry``, continuing a partial pass when one was left for the same batches."""
    model, tokenizer = loaded.model, loaded.tokenizer
    tag_names = [model.config.id2label[index] for index in sorted(model.config.id2label)]
    pairs = continuation_pairs(tag_names)
    lengths = np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))  # (N,)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)  # (N + 1,)
    shape = (int(offsets[-1]), int(model.config.num_labels))
    partial = entry.with_name(f".{entry.name}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    progress = LabellingProgress(entry.with_name(f".{entry.name}.progress.json"),
                                 {"rows": len(texts), "characters": shape[0], "classes": shape[1],
                                  "batch_size": batch_size, "tags": tag_names})
    done = progress.batches_done()
    values = reopen_partial(partial / "values.npy", shape, np.float32) if done else None  # (S, C)
    mask = reopen_partial(partial / "mask.npy", shape[:1], np.bool_) if done else None  # (S,)
    if values is None or mask is None:
        done = 0
        progress.remove()  # before the fresh files: an old count must never vouch for their zeros
        values = np.lib.format.open_memmap(partial / "values.npy", mode="w+", dtype=np.float32, shape=shape)
        mask = np.lib.format.open_memmap(partial / "mask.npy", mode="w+", dtype=np.bool_, shape=shape[:1])
    np.save(partial / "offsets.npy", offsets)
    order = length_order(texts)  # (N,)

    def label(rows: np.ndarray, batch_texts: list[str]) -> None:
        encoded = tokenizer(batch_texts, truncation=True, max_length=max_length, padding=True,
                            return_offsets_mapping=True, return_tensors="pt")
        token_offsets = encoded.pop("offset_mapping").tolist()  # (B, T, 2)
        log_probs = torch.log_softmax(model(**encoded.to(device)).logits.float(), dim=-1).cpu().numpy()  # (B, T, C)
        for index, row in enumerate(rows.tolist()):
            begin, end = int(offsets[row]), int(offsets[row + 1])
            values[begin:end], mask[begin:end] = char_rows_of_tokens(end - begin, token_offsets[index],
                                                                     log_probs[index], pairs)

    with inference(model, device, "auto"):
        run_labelling(texts, order, batch_size, done, label, lambda batches: progress.save(batches, [values, mask]),
                      reporter)
    # The folder was filled in place through memory maps; its rename into the cache is the atomic step.
    os.replace(partial, entry)
    progress.remove()
