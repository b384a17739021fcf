"""Every note the engine can send has a template in cldweb/messages.py and a Chinese translation,
and a stored note is said in the reader's language with its numbers written for it."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from django.utils import translation

from cldweb.messages import ENGINE_NOTES, engine_note
from distill.progress import NOTE_CODES, NOTE_TEXTS, note_text

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "distill"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# The web never shows a server path, so these codes' templates leave the named field out.
WITHOUT_SERVER_PATHS = {"teacher_finetune_reused_at": "folder"}


def _engine_nodes() -> list[tuple[str, ast.AST]]:
    nodes = []
    for path in sorted(ENGINE.rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            nodes.append((f"{relative}:{getattr(node, 'lineno', 0)}", node))
    return nodes


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def test_every_note_code_has_a_template_that_says_what_the_engine_says():
    assert set(ENGINE_NOTES) == set(NOTE_CODES)
    for code in NOTE_CODES:
        dropped = WITHOUT_SERVER_PATHS.get(code)
        english = NOTE_TEXTS[code].replace(f" ({{{dropped}}})", "") if dropped else NOTE_TEXTS[code]
        assert ENGINE_NOTES[code] == re.sub(r"\{(\w+)\}", r"%(\1)s", english), code


def test_every_note_template_has_a_chinese_translation_with_the_same_params():
    with translation.override("zh-hans"):
        for code, template in ENGINE_NOTES.items():
            chinese = translation.gettext(template)
            assert chinese != template and re.search(r"[\u4e00-\u9fff]", chinese), code
            assert set(PLACEHOLDER.findall(chinese)) == set(PLACEHOLDER.findall(template)), code


def test_the_engine_sends_only_registered_codes_and_every_note_with_a_code():
    """The codes written in the engine (send_note, CorpusReport.warn, the ``*_note`` arguments and their
    defaults) are exactly NOTE_CODES, and nothing in the engine calls on_message without a code."""
    written: list[tuple[str, ast.AST]] = []
    for where, node in _engine_nodes():
        if isinstance(node, ast.arguments):  # labelling_lock(..., waiting_note="teacher_labelling_waiting")
            named = node.posonlyargs + node.args
            defaults = list(zip(named[len(named) - len(node.defaults):], node.defaults))
            defaults += [(arg, default) for arg, default in zip(node.kwonlyargs, node.kw_defaults) if default]
            written += [(where, default) for arg, default in defaults if arg.arg.endswith("_note")]
        if not isinstance(node, ast.Call):
            continue
        name = _name(node)
        if name == "send_note" and len(node.args) >= 2:
            written.append((where, node.args[1]))
        elif name == "warn" and node.args:
            written.append((where, node.args[0]))
        written += [(where, keyword.value) for keyword in node.keywords if keyword.arg and keyword.arg.endswith("_note")]
        if name == "on_message" and not where.startswith("distill/progress.py"):
            assert any(keyword.arg == "code" for keyword in node.keywords), where
    codes = {code for _, node in written for code in _codes_in(node)}
    assert sorted(codes - set(NOTE_CODES)) == []  # a code the web cannot translate
    assert sorted(set(NOTE_CODES) - codes) == []  # a registered note nothing sends: dead wording


def _codes_in(node: ast.AST) -> set[str]:
    """The code a call site writes: a string, either branch of ``a if c else b``, or an f-string such as
    ``f"corpus_{name}_overlap"`` over ("dev", "test")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _codes_in(node.body) | _codes_in(node.orelse)
    if isinstance(node, ast.JoinedStr):
        pattern = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
        return {pattern.format(split) for split in ("dev", "test")}
    return set()  # a name (job.resuming_note, waiting_note, warning["code"]): its value is checked where written


def test_it_says_a_numbered_note_in_chinese_with_its_numbers_grouped():
    stored = {"text": "Student trained for 1,200 steps.", "code": "student_trained", "params": {"steps": 1200}}
    with translation.override("zh-hans"):
        assert engine_note(stored) == "学生模型训练了 1,200 步。"
    with translation.override("en"):
        assert engine_note(stored) == "Student trained for 1,200 steps."


def test_it_writes_accuracies_as_percentages_milliseconds_with_two_decimals_and_names_the_device():
    params = {"teacher_accuracy": 0.9134, "student_accuracy": None, "student_ms": 1.234, "teacher_ms": 12.5,
              "student_parameters": 1234567, "teacher_parameters": 102000000, "device": "cuda"}
    stored = {"text": note_text("run_summary", params), "code": "run_summary", "params": params}
    with translation.override("en"):
        english = engine_note(stored)
    assert english == ("Teacher test accuracy 91.3%, student n/a; student 1.23 ms a text (batch 1, median) against "
                       "the teacher's 12.50 ms; 1,234,567 parameters against 102,000,000 on GPU.")
    assert stored["text"].endswith("on cuda.")  # the engine's English for logs names the device as torch does
    with translation.override("zh-hans"):
        chinese = engine_note(stored)
    assert "91.3%" in chinese and "1,234,567" in chinese and "12.50" in chinese and "无" in chinese


def test_it_says_why_corpus_rows_were_skipped_and_where_in_chinese():
    params = {"count": 1203, "rows": 62000, "reasons": {"empty_text": 3, "text_too_long": 1200},
              "lines": [12, 40, 41]}
    stored = {"text": note_text("corpus_rows_skipped", params), "code": "corpus_rows_skipped", "params": params}
    assert stored["text"] == ("1,203 of 62,000 rows were skipped and are not used: 1,200 with a text over the length "
                              "limit, 3 with an empty text; first on lines 12, 40, 41.")  # the CLI's and the log's
    with translation.override("zh-hans"):
        assert engine_note(stored) == ("62,000 行中有 1,203 行被跳过，未被使用（1,200 行文本超过长度上限、3 行文本为空）；"
                                       "最先的几行在第 12、40、41 行。")
    with translation.override("en"):
        assert engine_note(stored) == stored["text"]


def test_a_note_without_a_known_code_or_with_a_param_missing_is_shown_as_the_engine_wrote_it():
    with translation.override("zh-hans"):
        assert engine_note({"text": "Something new happened."}) == "Something new happened."
        assert engine_note({"text": "A future note.", "code": "from_a_newer_engine", "params": {}}) == "A future note."
        assert engine_note({"text": "Student trained for 3 steps.", "code": "student_trained",
                            "params": {}}) == "Student trained for 3 steps."


def test_the_engines_english_is_the_template_filled_with_english_numbers():
    assert note_text("teacher_labelling_resuming", {"done": 3000, "total": 12345}) == (
        "Resuming teacher labelling at text 3,000 of 12,345.")
    assert note_text("run_summary", {"teacher_accuracy": 0.5, "student_accuracy": None, "student_ms": 1.0,
                                     "teacher_ms": 2.0, "student_parameters": 10, "teacher_parameters": 20,
                                     "device": "cpu"}).startswith("Teacher test accuracy 50.0%, student n/a;")
