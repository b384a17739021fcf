"""The download's README.md: a model card saying what the student is, how good, how fast, and how to run it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .verify import ExportCheck

_TOKENIZERS = {
    "char": "one token per character (NFKC-normalised, whitespace dropped)",
    "word": "jieba words (NFKC-normalised); predict.py needs `pip install jieba`",
    "teacher": "the teacher's BERT WordPiece tokenizer, read by predict.py without the tokenizers package",
}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.2f} MB" if path.is_file() else "–"


def model_card(*, config: dict[str, Any], labels: list[str], tokenizer_kind: str, parameters: int, folder: Path,
               check: ExportCheck, result: dict[str, Any] | None) -> str:
    """Markdown for README.md; ``result`` is the run's RunResult as a dict (what is known at export time)."""
    result = result or {}
    run_config = result.get("config") or {}
    teacher_cfg = run_config.get("teacher") or {}
    teacher_name = "the demo teacher (a small BERT trained on this corpus)" if teacher_cfg.get("demo") else \
        (teacher_cfg.get("name_or_path") or "–")
    teacher, student = result.get("teacher") or {}, result.get("student") or {}
    corpus = result.get("corpus") or {}
    train = run_config.get("train") or {}
    if check.standalone_problem:  # said first and plainly: the promise of this download does not hold for it
        runs_without_cld = [
            f"**predict.py cannot run this student without cld**: {check.standalone_problem}. The ONNX graphs "
            "are fine, but they need the token ids of this student's tokenizer (vocab.json); use the PyTorch files "
            "with cld (`distill.load_student(\"student.zip\")`), or a tokenizer that gives the same ids.", ""]
    else:
        runs_without_cld = [
            ("A small text-pair classifier" if config.get("task") == "pair" else "A small text classifier")
            + " distilled by cld from a larger teacher. "
            "It runs without cld: `predict.py` needs only `numpy` and `onnxruntime`"
            + (" (and `jieba`)." if tokenizer_kind == "word" else "."), ""]
    pairs = config.get("task") == "pair"
    if pairs:
        usage = ['python predict.py "怎么开通花呗" "花呗如何开通"      # one pair: label and every probability',
                 "python predict.py --file pairs.tsv --out out.csv  # two tab-separated texts a line -> CSV",
                 'python predict.py --int8 "怎么开通花呗" "花呗如何开通"  # the int8 model']
        from_python = ("From Python, with this folder on `sys.path`: `from predict import Predictor; "
                       "Predictor('.').probabilities(['怎么开通花呗'], ['花呗如何开通'])` (first texts, then second "
                       "texts; columns in `labels.json` order).")
    else:
        usage = ['python predict.py "这家酒店很好"                 # label and every probability',
                 "python predict.py --file texts.txt --out out.csv  # one text a line -> CSV",
                 'python predict.py --int8 "这家酒店很好"          # the int8 model']
        from_python = ("From Python, with this folder on `sys.path`: `from predict import Predictor; "
                       "Predictor('.').probabilities(['这家酒店很好'])` (columns in `labels.json` order).")
    lines = [
        f"# cld student: {config.get('architecture', '?')} ({parameters:,} parameters)"
        + (", a text-pair model" if pairs else ""),
        "",
        *runs_without_cld,
        "```bash",
        "pip install numpy onnxruntime" + (" jieba" if tokenizer_kind == "word" else ""),
        *usage,
        "```",
        "",
        from_python,
        "",
        "## Labels",
        "",
        ", ".join(f"`{label}`" for label in labels),
        "",
        "## How it was made",
        "",
        f"- Teacher: {teacher_name}" + (f", {teacher.get('parameters', 0):,} parameters" if teacher.get("parameters") else "")
        + ("; fine-tuned on the corpus labels first" if result.get("teacher_finetuned") else ""),
        f"- Data: {corpus.get('train', '–')} training, {corpus.get('dev', '–')} dev and {corpus.get('test', '–')} test texts",
        f"- Student: {config.get('architecture')}, preset {config.get('preset', '–')}, embedding {config.get('embedding_dim')}, "
        f"hidden {config.get('hidden_size')}, {config.get('num_layers')} layer(s), pooling {config.get('pooling')}",
        f"- Tokenizer: {_TOKENIZERS.get(tokenizer_kind, tokenizer_kind)}; texts are cut to {config.get('max_length')} tokens",
        f"- Training: mode {train.get('mode', '–')}, {train.get('epochs', '–')} epoch(s), batch {train.get('batch_size', '–')}, "
        f"learning rate {train.get('learning_rate', '–')}, temperature {train.get('temperature', '–')}, seed {train.get('seed', '–')}",
        "",
        "## Quality",
        "",
        "| model | dev accuracy | test accuracy |",
        "|---|---|---|",
        f"| teacher | {_pct(teacher.get('dev_accuracy'))} | {_pct(teacher.get('test_accuracy'))} |",
        f"| student | {_pct(student.get('dev_accuracy'))} | {_pct(student.get('test_accuracy'))} |",
        "",
        "## Efficiency (measured in the run, on the machine that trained it)",
        "",
        "| model | parameters | latency batch 1, p50 / p95 | texts/s at batch 32 |",
        "|---|---|---|---|",
        f"| teacher | {teacher.get('parameters', 0):,} | {teacher.get('latency_p50_ms', 0):.2f} / "
        f"{teacher.get('latency_p95_ms', 0):.2f} ms | {teacher.get('samples_per_second', 0):,.0f} |",
        f"| student | {parameters:,} | {student.get('latency_p50_ms', 0):.2f} / {student.get('latency_p95_ms', 0):.2f} ms "
        f"| {student.get('samples_per_second', 0):,.0f} |",
        "",
        f"Files: model.onnx {_size(folder / 'model.onnx')}, "
        + (f"model.int8.onnx {_size(folder / 'model.int8.onnx')}, " if check.int8_included else "")
        + f"model.safetensors {_size(folder / 'model.safetensors')}.",
        "",
        "## Export check",
        "",
        f"Checked when the zip was made, against the PyTorch student, on a batch of {check.edge_texts} texts "
        "(an empty text, a one-character text, a text at the maximum length, ordinary texts):",
        "",
        f"- model.onnx: max |probability difference| {check.fp32_max_abs_diff:.2e} (allowed {check.fp32_tolerance:.0e})",
        (f"- model.int8.onnx: max |probability difference| {check.int8_max_abs_diff:.2e}; same label as PyTorch on "
         f"{check.int8_agreement:.2%} of {check.agreement_texts:,} dev texts (required {check.int8_min_agreement:.0%})"
         if check.int8_included else
         f"- model.int8.onnx is **not included**: it picked PyTorch's label on only {check.int8_agreement:.2%} of "
         f"{check.agreement_texts:,} dev texts (required {check.int8_min_agreement:.0%}); use model.onnx"),
        "",
        "## Intended use and limits",
        "",
        "- Classifying short texts like the training corpus (same domain, same labels); it knows nothing else.",
        "- It copies its teacher, mistakes included; the test accuracy above is the number to trust, "
        "on texts like the test set. Check it on your own data before relying on it.",
        f"- Text past {config.get('max_length')} tokens is ignored. Tokens never seen in training count as unknown ([UNK]).",
        "- The int8 model trades a little agreement (above) for size and speed; use model.onnx when in doubt.",
        "",
        "## Files",
        "",
        "- `model.onnx`, `model.int8.onnx`: inputs `input_ids`, `attention_mask` (int64, batch × length), output `logits`",
        "- `model.safetensors` + `config.json`: the PyTorch weights and the config that rebuilds the architecture "
        "(cld: `distill.load_student(\"student.zip\")`)",
        "- `vocab.json`: the tokenizer; `labels.json`: label names in output order; `predict.py`: the runner",
    ]
    return "\n".join(lines) + "\n"


def tagger_model_card(*, config: dict[str, Any], tags: list[str], parameters: int, folder: Path, check: Any,
                      result: dict[str, Any] | None) -> str:
    """Markdown for a tagging student's README.md; ``check`` is export.tagger.TaggerExportCheck."""
    result = result or {}
    train = (result.get("config") or {}).get("train") or {}
    student = result.get("student") or {}
    kinds = sorted({tag.split("-", 1)[1] for tag in tags if "-" in tag})
    decoder = "a CRF: predict.py finds the best tag sequence by Viterbi from `crf.json`" if config.get("crf") \
        else "no CRF: each character takes its highest-scoring tag"
    lines = [
        f"# cld student: {config.get('architecture', '?')} tagger ({parameters:,} parameters)",
        "",
        *([f"**predict.py cannot run this tagger without cld**: {check.standalone_problem}.", ""]
          if check.standalone_problem else []),
        "A small named-entity tagger distilled by cld from a larger teacher: one BIO tag per character. "
        "It runs without cld: `predict.py` needs only `numpy` and `onnxruntime`.",
        "",
        "```bash",
        "pip install numpy onnxruntime",
        'python predict.py "江泽民在北京"                     # the text, a tab, its entities as JSON',
        "python predict.py --file texts.txt --out out.jsonl  # one text a line -> JSON Lines",
        "```",
        "",
        "From Python, with this folder on `sys.path`: `from predict import Predictor; "
        "Predictor('.').entities(['江泽民在北京'])` gives per text a list of "
        '`{"start", "end", "label", "text"}` (character offsets into the text, end exclusive).',
        "",
        "## Entities",
        "",
        ", ".join(f"`{kind}`" for kind in kinds) or "–",
        "",
        f"Tags (`labels.json`, in output order): {', '.join(f'`{tag}`' for tag in tags)}.",
        "",
        "## How it was made",
        "",
        f"- Student: {config.get('architecture')}, embedding {config.get('embedding_dim')}, hidden "
        f"{config.get('hidden_size')}, {config.get('num_layers')} layer(s); {decoder}",
        "- Tokenizer: one token per character, each NFKC-normalised on its own; whitespace and characters never "
        f"seen in training are [UNK]; characters past the first {config.get('max_length')} get no tag",
        f"- Training: mode {train.get('mode', '–')}, {train.get('epochs', '–')} epoch(s), batch "
        f"{train.get('batch_size', '–')}, learning rate {train.get('learning_rate', '–')}, temperature "
        f"{train.get('temperature', '–')}, seed {train.get('seed', '–')}",
        *([f"- Dev entity F1: {_pct(student.get('dev_f1'))}"] if student.get("dev_f1") is not None else []),
        "",
        "## Export check",
        "",
        f"Checked when the zip was made, against the PyTorch tagger, on {check.texts} texts (edge cases and dev texts):",
        "",
        f"- model.onnx: max |emission difference| {check.fp32_max_abs_diff:.2e} (allowed {check.fp32_tolerance:.0e})",
        f"- predict.py's tags equal PyTorch's on {check.tag_agreement:.2%} of them",
        "",
        "## Intended use and limits",
        "",
        "- Tagging sentences like the training corpus; entity types other than those above are never found.",
        "- An entity counts as found only with both ends and its type right; check it on your own data.",
        "- No int8 model is included for taggers yet.",
        "",
        "## Files",
        "",
        "- `model.onnx`: inputs `input_ids`, `attention_mask` (int64, batch × characters), output `logits` "
        "(batch × characters × tags: emission scores)",
        "- `crf.json` (CRF taggers): `start`, `transitions` (row = previous tag), `end` scores",
        "- `model.safetensors` + `config.json`: the PyTorch weights and config (`\"task\": \"tagging\"`)",
        "- `vocab.json`: the characters; `labels.json`: the tags; `predict.py`: the runner",
        f"- Sizes: model.onnx {_size(folder / 'model.onnx')}, model.safetensors {_size(folder / 'model.safetensors')}",
    ]
    return "\n".join(lines) + "\n"
