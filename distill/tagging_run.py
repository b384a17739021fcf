"""A tagging (NER) run after its corpus is read: teacher fine-tune → per-character labelling → tagger → evaluate → export.

The same stages, caches and checkpoints as a text run (pipeline.py), on per-character data: the
teacher's token logits are mapped back to one row per character (teachers.tagging.teacher_char_logits,
cached by content), the student reads one id per character (tokens.characters.encode_characters), so
the two line up 1:1 and token-level distillation needs no alignment at training time. Scores are
entity-level precision/recall/F1 per type (seqeval) and token accuracy, on test (dev when test has no
tags); the report lists the test sentences with the most entity errors.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import students, teachers
from .config import RunConfig
from .corpus.splits import Splits
from .evaluate import SPEED_BATCH_SIZE, SPEED_TEXTS, count_parameters, measure_speeds, safetensors_size
from .export import export_tagger
from .progress import (PHASE_BASELINE, STAGE_BASELINE, STAGE_DISTILLING, STAGE_EVALUATING, STAGE_FINETUNING_TEACHER,
                       STAGE_LABELLING, Reporter, send_note)
from .result import ModelReport, RunResult
from .tasks.tagging_metrics import entity_metrics, worst_sentences
from .tasks.tagging_schemes import split_tag
from .teachers.tagging import (CharLogits, cached_char_logits_available, finetune_tagging_teacher,
                               load_tagging_teacher, teacher_char_logits)
from .tokens.batches import pad_batch
from .tokens.characters import encode_characters
from .tokens.tokenizer import CharTokenizer, load_tokenizer
from .training.checkpoints import CHECKPOINT_NAME, set_seed
from .training.tagging import TaggingSet, tag_ids, tagger_predictions, train_tagger

WORST_SENTENCES_SHOWN = 20  # test sentences with the most entity errors, listed in the report


def tag_names_of(splits: Splits) -> list[str]:
    """"O" first, then each entity type's B- and I- tags, types in name order: the class order of every model."""
    types: set[str] = set()
    for part in (splits.train, splits.dev, splits.test):
        for example in part:
            for tag in example.tags or ():
                prefix, kind = split_tag(tag)
                if kind:
                    types.add(kind)
    return ["O", *(f"{prefix}-{kind}" for kind in sorted(types) for prefix in ("B", "I"))]


def run_tagging(cfg: RunConfig, reporter: Reporter, out: Path, device: torch.device, result: RunResult,
                splits: Splits, stage: Any) -> None:
    """Every stage after preparing, for ``cfg.data.task == "tagging"``; ``stage`` is pipeline._stage."""
    dcfg, tcfg = cfg.data, cfg.train
    tag_names = tag_names_of(splits)
    result.labels = tag_names
    texts = {name: getattr(splits, name).texts for name in ("train", "dev", "test")}
    gold = {name: [example.tags for example in getattr(splits, name)] for name in ("train", "dev", "test")}
    if splits.report.unlabeled_file:
        # The file's sentences sit in train untagged: only the teacher's tags can teach anything from them.
        send_note(reporter, "tagging_unlabeled_file_hard" if tcfg.mode == "hard" else "tagging_unlabeled_file",
                  count=splits.report.unlabeled_file)

    # --- the teacher: a token-classification head on these tags, fine-tuned when it has none --------
    source = cfg.teacher.name_or_path
    if cfg.teacher.demo:
        source = str(out / "teacher_init")
        if not (Path(source) / "model.safetensors").is_file():
            send_note(reporter, "demo_teacher_building")
            teachers.build_demo_teacher(texts["train"], tag_names, cfg.teacher, source, max_length=dcfg.max_length,
                                        seed=tcfg.seed, task="tagging")
    loaded = load_tagging_teacher(cfg.teacher, tag_names, name_or_path=source)
    if loaded.needs_finetune:
        with stage(STAGE_FINETUNING_TEACHER, {"device": device.type, "demo": cfg.teacher.demo}):
            send_note(reporter, "teacher_finetune_first_demo" if cfg.teacher.demo else "teacher_finetune_first")
            loaded = finetune_tagging_teacher(loaded, texts["train"], gold["train"], texts["dev"], gold["dev"],
                                              tag_names, cfg, device, reporter, out)
            result.teacher_finetuned = True
    result.teacher_directory, result.teacher_fingerprint = loaded.directory, loaded.fingerprint

    # --- labelling: per-character teacher log-probabilities, from the cache when possible ----------
    cached = all(cached_char_logits_available(loaded.fingerprint, part, dcfg.max_length, cfg.cache_dir)
                 for part in texts.values())
    with stage(STAGE_LABELLING, {"device": device.type, "cached": cached}):
        char_logits: dict[str, CharLogits] = {}
        hits = []
        for name, part in texts.items():
            char_logits[name], hit = teacher_char_logits(loaded, part, dcfg.max_length, cfg.cache_dir,
                                                         cfg.teacher.inference_batch_size, device, reporter)
            hits.append(hit)
        result.teacher_cache_hit = all(hits)
        send_note(reporter, "teacher_outputs_cached" if result.teacher_cache_hit else "teacher_labelled",
                  **({} if result.teacher_cache_hit else {"count": sum(len(part) for part in texts.values())}))

    # --- the student: one id per character, trained on the teacher's characters and the gold tags ---
    tokenizer_path = out / "student_tokenizer.json"
    if tokenizer_path.is_file():
        tokenizer = load_tokenizer(tokenizer_path)
    else:
        tokenizer = CharTokenizer.build(texts["train"], cfg.student.min_frequency, cfg.student.max_vocab_size)
        tokenizer.save(tokenizer_path)
    sets = {name: _tagging_set(tokenizer, texts[name], gold[name], char_logits[name], tag_names, dcfg.max_length)
            for name in texts}
    set_seed(tcfg.seed)
    model = students.build_tagger(cfg.student, tokenizer.vocab_size, len(tag_names))
    resumed = (out / "checkpoints" / CHECKPOINT_NAME).is_file()
    with stage(STAGE_DISTILLING, {"device": device.type, "parameters": count_parameters(model), "resumed": resumed}):
        outcome = train_tagger(model, sets["train"], sets["dev"], tag_names, cfg, pad_id=tokenizer.pad_id,
                               device=device, checkpoint_dir=out / "checkpoints", reporter=reporter)
        result.training = {"steps": outcome.steps, "epochs_completed": outcome.epochs_completed,
                           "stopped_early": outcome.stopped_early, "resumed_from_step": outcome.resumed_from_step,
                           "best_dev_f1": outcome.best_dev_f1}
        send_note(reporter, "student_trained_stopped_early" if outcome.stopped_early else "student_trained",
                  steps=outcome.steps)

    baseline = None
    if tcfg.baseline and tcfg.mode != "hard" and sets["train"].labelled_rows():
        set_seed(tcfg.seed)
        baseline = students.build_tagger(cfg.student, tokenizer.vocab_size, len(tag_names))
        hard = dataclasses.replace(cfg, train=dataclasses.replace(tcfg, mode="hard"))
        labelled = dataclasses.replace(sets["train"], teacher_values=None, teacher_offsets=None, teacher_mask=None)
        with stage(STAGE_BASELINE, {"device": device.type,
                                    "resumed": (out / "baseline_checkpoints" / CHECKPOINT_NAME).is_file()}):
            send_note(reporter, "baseline_training")
            baseline_outcome = train_tagger(baseline, labelled, sets["dev"], tag_names, hard, pad_id=tokenizer.pad_id,
                                            device=device, checkpoint_dir=out / "baseline_checkpoints",
                                            reporter=reporter, phase=PHASE_BASELINE, stage=STAGE_BASELINE)
            result.baseline_training = {"steps": baseline_outcome.steps,
                                        "epochs_completed": baseline_outcome.epochs_completed,
                                        "stopped_early": baseline_outcome.stopped_early,
                                        "resumed_from_step": baseline_outcome.resumed_from_step,
                                        "best_dev_f1": baseline_outcome.best_dev_f1}

    # --- evaluating and export --------------------------------------------------------------------
    with stage(STAGE_EVALUATING, {"device": device.type}):
        scored = "test" if sets["test"].labelled_rows() else "dev" if sets["dev"].labelled_rows() else ""
        result.metrics_split = scored
        batch = tcfg.batch_size * 2
        predicted: dict[str, dict[str, list[list[str]]]] = {"teacher": {
            name: _teacher_tags(char_logits[name], sets[name], tag_names) for name in ("dev", "test")}}
        for name, tagger in (("student", model), ("baseline", baseline)):
            if tagger is not None:
                predicted[name] = {part: tagger_predictions(tagger, sets[part], tag_names, batch, tokenizer.pad_id,
                                                            device) for part in ("dev", "test")}
        for name, by_split in predicted.items():
            scores = {part: _scores(sets[part], by_split[part], tag_names) for part in ("dev", "test")}
            if scored and scores[scored] is not None:
                result.metrics[name] = {**scores[scored], "dev_f1": (scores["dev"] or {}).get("f1")}
        if scored:
            rows = sets[scored].labelled_rows()
            result.disagreements = worst_sentences(
                [texts[scored][row][:len(sets[scored].token_ids[row])] for row in rows],
                [_gold_names(sets[scored], row, tag_names) for row in rows],
                [predicted["student"][scored][row] for row in rows], WORST_SENTENCES_SHOWN)
        speeds = _measure_speeds(model, tokenizer, loaded, texts["dev"] or texts["train"], dcfg.max_length, device,
                                 tcfg.amp)
        result.student = _model_report(result.metrics.get("student"), count_parameters(model), speeds["student"])
        result.teacher = _model_report(result.metrics.get("teacher"), count_parameters(loaded.model), speeds["teacher"])
        result.teacher.size_bytes = safetensors_size(loaded.directory) if loaded.directory else 0
        exporting = time.perf_counter()
        exported = export_tagger(model, tokenizer, tag_names, out / "student", out / "student.zip",
                                 max_length=dcfg.max_length, check_texts=texts["dev"], result=result.to_dict())
        result.export_path, result.export_check = str(exported.zip_path), dataclasses.asdict(exported.check)
        result.student.size_bytes = safetensors_size(out / "student" / "model.safetensors")
        exported_in = result.stage_seconds["exporting"] = round(time.perf_counter() - exporting, 3)
        result.stage_seconds[STAGE_EVALUATING] = result.stage_seconds.get(STAGE_EVALUATING, 0.0) - exported_in


def _tagging_set(tokenizer: CharTokenizer, texts: Sequence[str], tags: Sequence[Sequence[str] | None],
                 logits: CharLogits, tag_names: list[str], max_length: int) -> TaggingSet:
    return TaggingSet(token_ids=[encode_characters(tokenizer, text, max_length) for text in texts],
                      tags=[tag_ids(row, tag_names) for row in tags], teacher_values=np.asarray(logits.values),
                      teacher_offsets=np.asarray(logits.offsets), teacher_mask=np.asarray(logits.mask))


def _gold_names(dataset: TaggingSet, row: int, tag_names: list[str]) -> list[str]:
    """Row ``row``'s gold tags over the characters the student reads ("O" where a character has none)."""
    length = len(dataset.token_ids[row])
    ids = list(dataset.tags[row])[:length]
    return [tag_names[tag] if tag >= 0 else "O" for tag in ids] + ["O"] * (length - len(ids))


def _teacher_tags(logits: CharLogits, dataset: TaggingSet, tag_names: list[str]) -> list[list[str]]:
    """The teacher's tag per character the student reads: its argmax; "O" where it saw no token (a space)."""
    tags = []
    for row in range(len(dataset.token_ids)):
        values, mask = logits.row(row)  # (L, C), (L,)
        length = len(dataset.token_ids[row])
        best = np.asarray(values[:length]).argmax(axis=-1) if length else np.zeros(0, np.int64)
        tags.append([tag_names[int(tag)] if seen else "O" for tag, seen in zip(best, np.asarray(mask[:length]))])
    return tags


def _scores(dataset: TaggingSet, predicted: list[list[str]], tag_names: list[str]) -> dict[str, Any] | None:
    rows = dataset.labelled_rows()
    if not rows:
        return None
    return entity_metrics([_gold_names(dataset, row, tag_names) for row in rows], [predicted[row] for row in rows])


def _model_report(metrics: dict[str, Any] | None, parameters: int, speed: Any) -> ModelReport:
    """Token accuracy in the accuracy fields (the share of characters tagged right: what they mean for a
    tagger); entity F1, the number to judge a tagger by, is in result.metrics."""
    return ModelReport(dev_accuracy=None, test_accuracy=(metrics or {}).get("token_accuracy"), parameters=parameters,
                       latency_p50_ms=speed.latency_p50_ms, latency_p95_ms=speed.latency_p95_ms,
                       samples_per_second=speed.samples_per_second)


def _measure_speeds(model: torch.nn.Module, tokenizer: CharTokenizer, loaded: Any, texts: Sequence[str],
                    max_length: int, device: torch.device, amp: str) -> dict[str, Any]:
    """Teacher and student timed interleaved on the same texts (evaluate.measure_speeds), as for text runs."""
    sample = [text for text in (texts[i] for i in range(min(SPEED_TEXTS, len(texts)))) if text]
    teacher_model = loaded.model.to(device).eval()

    def encode_teacher(batch: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encoded = teachers.teacher_encode(loaded.tokenizer, batch, max_length, padding=True, return_tensors="pt")
        return encoded["input_ids"], encoded["attention_mask"]  # (B, T), (B, T)

    def encode_student(batch: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch([encode_characters(tokenizer, text, max_length) for text in batch], tokenizer.pad_id)

    by_length = sorted(sample, key=len)
    chunks = [by_length[i:i + SPEED_BATCH_SIZE] for i in range(0, len(by_length), SPEED_BATCH_SIZE)]
    timed = {
        "teacher": (lambda ids, mask: teacher_model(input_ids=ids, attention_mask=mask).logits,
                    [encode_teacher([text]) for text in sample], [encode_teacher(chunk) for chunk in chunks]),
        "student": (model.eval(), [encode_student([text]) for text in sample], [encode_student(chunk) for chunk in chunks]),
    }
    return measure_speeds(timed, device, amp)
