"""Growing the training set and more unlabelled text, in the web: the run form's choice, its checks and the
config it builds; the corpus's file of unlabelled texts; POST /api/runs/; the run page's "Training rows" block
from a finished run's result (written by hand after the contract in distill/result.py)."""
from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from cldweb import growing
from cldweb.models import ApiToken, Run, Teacher
from distill import TrainConfig
from tests.report_results import finished_result

pytestmark = pytest.mark.django_db

TRANSFER_RESULT = {
    "rows": {"labelled": 10_400, "unlabelled": 1_600, "unlabelled_file": 5_000,
             "generated": {"mask": 6_000, "pos": 5_200, "ngram": 8_800, "mlm": 0}},
    "target_rows": 20_000, "attempts": 61_234,
    "methods_skipped": {"mlm": "transfer_mlm_no_head"},
    "examples": [{"text": "物流[MASK]快，包装也很仔细。", "source_text": "物流很快，包装也很仔细。", "method": "mask",
                  "label": "好评", "confidence": 0.9731}]
    + [{"text": f"质量太差{i}", "source_text": f"质量太差了，用了两天就坏{i}。", "method": "ngram", "label": "差评",
        "confidence": 0.8} for i in range(11)],
    "virtual_labels": {"threshold": 0.9, "candidates": 5_000, "passed": 412, "share": 0.0824},
    "teacher_texts_per_second": 480.0,
}


def text_of(response) -> str:
    """The page's visible text, tags removed and whitespace folded, as a reader meets it."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def run_form(corpus, teacher, **extra) -> dict:
    return {"corpus": corpus.pk, "teacher": teacher.pk, "student_architecture": "bilstm", "mode": "soft",
            "epochs": 2, "max_length": 64, "baseline": "on", "grow": "off", **extra}


# -- the run form ------------------------------------------------------------------------------


@pytest.fixture
def imported_teacher(owner, tmp_path) -> Teacher:
    """A teacher the form offers (its folder has a config.json); nothing loads it here."""
    folder = tmp_path / "teacher"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    return Teacher.objects.create(owner=owner, name="my bert", kind=Teacher.KIND_IMPORTED, path=str(folder))


def test_it_carries_the_grow_choice_size_methods_and_threshold_into_the_run_config(owner_client, corpus,
                                                                                  imported_teacher):
    response = owner_client.post(reverse("run-create"), run_form(
        corpus, imported_teacher, mode="semi", grow="heavy", grow_rows="20000", grow_methods=["ngram", "mlm"],
        virtual_label_threshold="0.9"))
    run = Run.objects.get()
    assert response.status_code == 302, text_of(response)
    assert {key: run.config["transfer"][key] for key in ("preset", "target_rows", "methods")} == {
        "preset": "heavy", "target_rows": 20_000, "methods": ["ngram", "mlm"]}
    assert run.config["train"]["virtual_label_threshold"] == 0.9
    config = run.build_config()
    assert (config.transfer.preset, config.transfer.target_rows, config.transfer.methods) == ("heavy", 20_000,
                                                                                            ["ngram", "mlm"])
    assert config.train.virtual_label_threshold == 0.9 and config.data.unlabeled_path == ""
    assert run.build_config().to_dict() == run.config  # idempotent, as Run.config is what the worker builds from


def test_a_run_with_growing_off_and_no_threshold_keeps_the_engines_defaults(owner_client, corpus, demo_teacher):
    owner_client.post(reverse("run-create"), run_form(corpus, demo_teacher))
    config = Run.objects.get().build_config()
    assert not config.transfer.enabled and config.transfer.preset == "off"
    assert config.train.virtual_label_threshold == TrainConfig().virtual_label_threshold == 0.9


def test_a_threshold_of_zero_means_true_labels_only(owner_client, corpus, demo_teacher):
    owner_client.post(reverse("run-create"), run_form(corpus, demo_teacher, mode="semi", virtual_label_threshold="0"))
    assert Run.objects.get().build_config().train.virtual_label_threshold == 0.0


@pytest.mark.parametrize("extra, field, words", [
    ({"mode": "hard", "grow": "light"}, "grow", "“Your labels only” uses none of the teacher's"),
    ({"grow": "light", "grow_rows": "99"}, "grow_rows", "greater than or equal to 100"),
    ({"grow": "light", "grow_rows": "500001"}, "grow_rows", "less than or equal to 500000"),
    ({"grow_rows": "5000"}, "grow_rows", "Choose light or heavy"),
    ({"grow": "light", "grow_methods": ["mlm"]}, "grow_methods", "has no masked-LM head"),
    ({"mode": "semi", "virtual_label_threshold": "1.5"}, "virtual_label_threshold", "less than or equal to 0.99"),
])
def test_it_refuses_settings_that_cannot_work_saying_why(owner_client, corpus, demo_teacher, extra, field, words):
    response = owner_client.post(reverse("run-create"), run_form(corpus, demo_teacher, **extra))
    assert not Run.objects.exists()
    errors = response.context["form"].errors
    assert list(errors) == [field] and words in " ".join(errors[field]), errors
    assert words in text_of(response)


def test_the_form_offers_the_choice_the_methods_in_words_and_says_mlm_needs_a_head(owner_client, demo_teacher):
    page = text_of(owner_client.get(reverse("run-create")))
    assert "Grow the training set Off: train on the corpus rows only Light: about 10,000 more rows" in page
    assert "Heavy: about 50,000 more rows" in page
    assert ("Advanced Ways to make new rows Masking words Replacing words by others of the same part of speech "
            "Keeping a window of the text The teacher rewriting words (masked-LM)") in page
    assert "needs a teacher with a masked-LM head, such as bert-base-chinese. The demo teacher has none" in page
    assert "Confidence for virtual labels (semi mode)" in page


def finished_run(owner, corpus, teacher, result: dict) -> Run:
    return Run.objects.create(owner=owner, corpus=corpus, teacher=teacher, status=Run.Status.DONE, result=result,
                              finished_at=timezone.now())


def test_the_estimate_uses_the_teachers_last_measured_speed_then_its_labelling_time_then_a_stated_guess(
        owner, corpus, demo_teacher, hub_teacher):
    guess = growing.teacher_speed(hub_teacher)
    assert guess == {"texts_per_second": 5.0, "measured": False, "kind": "pretrained"}
    assert growing.estimate(guess, 10_000, ["mask", "pos", "ngram"]) == (
        "Growing adds about 33 minutes of teacher time, to label 10,000 generated rows. A rough guess: no finished run of this "
        "teacher here recorded its speed, so 5.0 texts a second is assumed, about what a BERT-base-sized teacher "
        "labels on a CPU (a GPU is many times faster).")
    # A run that labelled 12,000 texts in 60 s, without the cache: 200 texts a second.
    finished_run(owner, corpus, demo_teacher, {"stage_seconds": {"labelling": 60.0}, "teacher_cache_hit": False,
                                               "corpus": {"train": 10_000, "dev": 1_000, "test": 1_000}})
    timed = growing.teacher_speed(demo_teacher)
    assert timed == {"texts_per_second": 200.0, "measured": True, "kind": "demo"}
    # A later run read its outputs from the cache: its labelling time says nothing of the speed.
    finished_run(owner, corpus, demo_teacher, {"stage_seconds": {"labelling": 0.5}, "teacher_cache_hit": True,
                                               "corpus": {"train": 10_000, "dev": 1_000, "test": 1_000}})
    assert growing.teacher_speed(demo_teacher)["texts_per_second"] == 200.0
    finished_run(owner, corpus, demo_teacher, {"transfer": {"teacher_texts_per_second": 41.5}})
    measured = growing.teacher_speed(demo_teacher)
    assert measured["texts_per_second"] == 41.5 and measured["measured"]
    assert growing.estimate(measured, 10_000, ["mask"]) == (
        "Growing adds about 4 minutes of teacher time on this machine, to label 10,000 generated rows at the 42 texts a "
        "second this teacher labelled in its last finished run here.")


def test_a_refused_form_shows_the_estimate_for_what_was_chosen(owner_client, owner, corpus, demo_teacher):
    finished_run(owner, corpus, demo_teacher, {"transfer": {"teacher_texts_per_second": 250.0}})
    response = owner_client.post(reverse("run-create"), run_form(corpus, demo_teacher, mode="hard", grow="heavy"))
    assert response.context["grow_estimate"] == (
        "Growing adds about 3 minutes of teacher time on this machine, to label 50,000 generated rows at the 250 texts a "
        "second this teacher labelled in its last finished run here.")
    assert response.context["grow_estimate"] in text_of(response)
    settings_json = json.loads(re.search(r'id="grow-settings"[^>]*>(.*?)</script>', response.content.decode(),
                                         re.S).group(1))
    assert settings_json["teachers"][str(demo_teacher.pk)]["texts_per_second"] == 250.0
    assert settings_json["presets"]["light"] == {"rows": 10_000, "methods": ["mask", "pos", "ngram"]}


# -- the corpus's unlabelled texts -----------------------------------------------------------------


def upload(owner_client, corpus, name: str, content: bytes):
    return owner_client.post(reverse("corpus-unlabeled", args=[corpus.pk]),
                             {"file": SimpleUploadedFile(name, content, content_type="text/plain")})


def test_it_attaches_counts_passes_to_the_run_and_removes_the_unlabelled_texts(owner_client, corpus, demo_teacher,
                                                                             django_capture_on_commit_callbacks):
    response = upload(owner_client, corpus, "更多评论.txt", "还不错\n\n味道很好\n  \n下次再来\n".encode("utf-8"))
    assert response.status_code == 302
    corpus.refresh_from_db()
    stored = corpus.unlabeled_path
    assert stored.read_text(encoding="utf-8") == "还不错\n味道很好\n下次再来\n" and stored.parent == corpus.path.parent
    page = text_of(owner_client.get(reverse("corpus-detail", args=[corpus.pk])))
    assert "更多评论.txt: 3 texts attached." in page
    assert "More text without labels File 更多评论.txt Texts 3 Empty lines left out 2" in page

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("run-create"), run_form(corpus, demo_teacher))
    run = Run.objects.get()
    assert run.build_config().data.unlabeled_path == str(stored) == run.config["data"]["unlabeled_path"]
    refused = owner_client.post(reverse("corpus-unlabeled-remove", args=[corpus.pk]), follow=True)
    assert "更多评论.txt cannot be changed while 1 run on this corpus is queued or running" in text_of(refused)
    assert stored.is_file()

    Run.objects.update(status=Run.Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        removed = owner_client.post(reverse("corpus-unlabeled-remove", args=[corpus.pk]), follow=True)
    assert "更多评论.txt was removed from the corpus." in text_of(removed)
    corpus.refresh_from_db()
    assert not corpus.unlabeled_file and not stored.exists()
    assert "File 更多评论.txt" not in text_of(removed)


def test_it_refuses_a_file_that_is_not_text_naming_it_and_keeps_nothing(owner_client, corpus, settings):
    media = Path(settings.MEDIA_ROOT)
    before = sorted(media.rglob("*"))
    response = upload(owner_client, corpus, "photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(500))
    assert response.status_code == 400
    # It names the kind of file asked for here (plain text), not the corpus upload's CSV/TSV/JSONL.
    assert "photo.txt: the file is a PNG image, not a plain text file with one text per line" in text_of(response)
    corpus.refresh_from_db()
    assert not corpus.unlabeled_file and sorted(media.rglob("*")) == before


@pytest.mark.parametrize("language, words", [
    ("en", "nothing.txt: the file is empty: it has no line of text"),
    ("zh-hans", "nothing.txt：文件是空的，没有一行文本"),
])
def test_it_refuses_an_empty_file_saying_it_has_no_text_in_each_language(owner_client, corpus, language, words):
    owner_client.post(reverse("set_language"), {"language": language})
    response = upload(owner_client, corpus, "nothing.txt", b"")
    assert response.status_code == 400
    assert words in text_of(response)
    corpus.refresh_from_db()
    assert not corpus.unlabeled_file


def test_it_refuses_a_file_over_the_upload_limit_naming_it(owner_client, corpus, settings):
    settings.CLD_MAX_UPLOAD_BYTES = 100
    response = upload(owner_client, corpus, "big.txt", "很长的文本\n".encode("utf-8") * 20)
    assert response.status_code == 413  # refused from its declared size, before the body is read
    assert "The file is larger than the limit of 0.01 MB." in text_of(response)
    corpus.refresh_from_db()
    assert not corpus.unlabeled_file


def test_replacing_or_deleting_the_corpus_deletes_the_stored_texts(owner_client, corpus,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(owner_client, corpus, "a.txt", "第一条\n".encode("utf-8"))
        corpus.refresh_from_db()
        first = corpus.unlabeled_path
        upload(owner_client, corpus, "b.txt", "第二条\n第三条\n".encode("utf-8"))
    corpus.refresh_from_db()
    second = corpus.unlabeled_path
    assert not first.exists() and second.read_text(encoding="utf-8") == "第二条\n第三条\n"
    assert (corpus.unlabeled_filename, corpus.unlabeled_lines) == ("b.txt", 2)
    with django_capture_on_commit_callbacks(execute=True):
        corpus.delete()
    assert not second.exists()


def test_another_user_cannot_attach_to_a_corpus(other_client, corpus):
    assert upload(other_client, corpus, "x.txt", "一\n".encode("utf-8")).status_code == 404


# -- POST /api/runs/ -----------------------------------------------------------------------------


@pytest.fixture
def token(owner) -> str:
    return ApiToken.issue(user=owner, name="script")[1]


def api_post(client, token: str, body) -> object:
    return client.post(reverse("api-runs"), data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {token}")


def test_the_api_creates_a_run_exactly_like_the_form(client, token, corpus, demo_teacher):
    response = api_post(client, token, {
        "corpus": corpus.pk, "teacher": demo_teacher.pk, "student": "bilstm", "mode": "semi", "epochs": 3,
        "max_length": 96, "baseline": False, "transfer": {"preset": "light", "target_rows": 20_000,
                                                           "methods": ["mask", "pos"]},
        "virtual_label_threshold": 0.9})
    assert response.status_code == 201, response.content
    body = response.json()
    run = Run.objects.get()
    assert body["id"] == run.pk and body["status"] == "queued"
    assert body["urls"]["page"].endswith(reverse("run-detail", args=[run.pk]))
    assert body["urls"]["api"].endswith(reverse("api-run", args=[run.pk]))
    assert (run.config["train"]["mode"], run.config["train"]["epochs"], run.config["train"]["baseline"],
            run.config["data"]["max_length"]) == ("semi", 3, False, 96)
    assert body["settings"]["transfer"]["preset"] == "light" and body["settings"]["transfer"]["target_rows"] == 20_000
    assert body["settings"]["transfer"]["methods"] == ["mask", "pos"]
    assert body["settings"]["train"]["virtual_label_threshold"] == 0.9
    assert "unlabeled_path" not in body["settings"]["data"] and body["settings"]["data"]["unlabeled_file"] is False

    # GET /api/runs/<id>/ says the same settings, and the training rows once the run is done.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, result={**finished_result(), "transfer": TRANSFER_RESULT})
    shown = client.get(reverse("api-run", args=[run.pk]), HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert shown["settings"]["transfer"] == body["settings"]["transfer"]
    assert shown["transfer"]["rows"]["generated"]["ngram"] == 8_800


def test_the_api_defaults_match_the_forms_and_leave_growing_off(client, token, corpus, demo_teacher):
    response = api_post(client, token, {"corpus": corpus.pk, "teacher": demo_teacher.pk})
    assert response.status_code == 201, response.content
    config = Run.objects.get().config
    assert (config["train"]["mode"], config["train"]["epochs"], config["train"]["baseline"],
            config["data"]["max_length"], config["transfer"]["preset"]) == ("soft", 5, True, 128, "off")


@pytest.mark.parametrize("body, field, words", [
    ({"mode": "hard", "transfer": {"preset": "light"}}, "transfer.preset", "uses none of the teacher's"),
    ({"transfer": {"preset": "light", "target_rows": 50}}, "transfer.target_rows", "greater than or equal to 100"),
    ({"transfer": {"preset": "huge"}}, "transfer.preset", "Select a valid choice"),
    ({"epochs": "many"}, "epochs", "Enter a whole number"),
])
def test_the_api_refuses_what_the_form_refuses_as_json(client, token, corpus, demo_teacher, body, field, words):
    response = api_post(client, token, {"corpus": corpus.pk, "teacher": demo_teacher.pk, **body})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field], error
    assert words in " ".join(error["fields"][field])
    assert not Run.objects.exists()


def test_the_api_refuses_unknown_fields_and_a_body_that_is_not_json(client, token, corpus, demo_teacher):
    response = api_post(client, token, {"corpus": corpus.pk, "teacher": demo_teacher.pk, "epoch": 3,
                                        "transfer": {"rows": 5}})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "unknown_fields", "message": "Unknown fields: epoch, transfer.rows."}
    broken = client.post(reverse("api-runs"), data="{", content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token}")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "body_not_json"
    assert not Run.objects.exists()


def test_the_api_answers_404_for_another_users_corpus_or_teacher(client, other_user, corpus, demo_teacher):
    other_token = ApiToken.issue(user=other_user, name="theirs")[1]
    response = api_post(client, other_token, {"corpus": corpus.pk, "teacher": demo_teacher.pk})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    private = Teacher.objects.create(owner=corpus.owner, name="mine", kind=Teacher.KIND_IMPORTED, path="/nowhere")
    other_corpus_response = api_post(client, other_token, {"corpus": 999_999, "teacher": private.pk})
    assert other_corpus_response.status_code == 404
    assert not Run.objects.exists()


def test_the_api_asks_for_a_token(client, corpus, demo_teacher):
    response = client.post(reverse("api-runs"), data=json.dumps({"corpus": corpus.pk}), content_type="application/json")
    assert response.status_code == 401 and not Run.objects.exists()


# -- the run page ------------------------------------------------------------------------------


def test_the_run_page_shows_the_training_rows_skipped_methods_virtual_labels_and_ten_examples(owner_client, run):
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, result={**finished_result(), "transfer": TRANSFER_RESULT})
    page = text_of(owner_client.get(reverse("run-detail", args=[run.pk])))
    assert "Training rows The student learnt from 37,000 rows, 20,000 of them generated." in page
    assert ("Kind of row Rows Corpus rows with a label 10,400 Corpus rows without a label 1,600 Texts from the "
            "unlabelled texts file 5,000 Generated: Masking words 6,000 Generated: Replacing words by others of the "
            "same part of speech 5,200 Generated: Keeping a window of the text 8,800 Total 37,000") in page
    assert "Generated: The teacher rewriting words" not in page  # none made
    assert ("“The teacher rewriting words (masked-LM)” was not used: the teacher has no masked-LM head (the demo "
            "teacher has none).") in page
    assert ("412 of 5,000 unlabelled rows (8.2%) passed the 0.90 confidence threshold and were used as labels."
            in page)
    assert ("Examples of generated rows Generated text Made from How Teacher's label Confidence "
            "物流[MASK]快，包装也很仔细。 物流很快，包装也很仔细。 Masking words 好评 97.3%") in page
    assert "质量太差8 质量太差了，用了两天就坏8。 Keeping a window of the text 差评 80.0%" in page
    assert "质量太差9" not in page  # ten examples, not the eleventh and twelfth
    assert "generated rows asked for were made" not in page  # 20,000 of 20,000 were made

    report = text_of(owner_client.get(reverse("run-report", args=[run.pk])))
    assert "The student learnt from 37,000 rows, 20,000 of them generated." in report


def test_the_run_page_says_when_fewer_rows_were_made_than_asked(owner_client, run):
    short = {**TRANSFER_RESULT, "target_rows": 50_000, "methods_skipped": {}, "virtual_labels": {}}
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, result={**finished_result(), "transfer": short})
    page = text_of(owner_client.get(reverse("run-detail", args=[run.pk])))
    assert ("20,000 of the 50,000 generated rows asked for were made: after 61,234 tries the corpus gave no more "
            "different variants.") in page
    assert "confidence threshold" not in page and "was not used" not in page


def test_the_run_page_shows_no_training_rows_without_a_transfer_result(owner_client, run):
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, result={**finished_result(), "transfer": {}})
    page = text_of(owner_client.get(reverse("run-detail", args=[run.pk])))
    assert "Training rows" not in page and "Evaluation report" in page


def test_the_run_page_and_the_form_say_it_in_chinese(owner_client, run, demo_teacher):
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.DONE, result={**finished_result(), "transfer": TRANSFER_RESULT},
        config={**run.config, "transfer": {"preset": "light", "target_rows": 20_000, "methods": []}})
    owner_client.post(reverse("set_language"), {"language": "zh-hans"})
    page = text_of(owner_client.get(reverse("run-detail", args=[run.pk])))
    assert "扩充训练集 轻度：希望生成 20,000 行（遮盖词语、用同词性的其他词替换词语、截取文本的一段）" in page
    assert "训练数据行 学生模型从 37,000 行中学习，其中 20,000 行是生成的。" in page
    assert "生成：截取文本的一段 8,800" in page
    assert "没有使用“教师模型改写词语（掩码语言模型）”：教师模型没有掩码语言模型头（演示教师模型没有）。" in page
    assert "5,000 行无标签数据中有 412 行（8.2%）达到 0.90 的置信度阈值，被当作标签使用。" in page
    form = text_of(owner_client.get(reverse("run-create")))
    assert "扩充训练集 关闭：只用语料中的行训练 轻度：多出约 10,000 行" in form
    assert "高级设置 生成新行的方式 遮盖词语" in form


def test_a_real_run_reads_the_corpus_file_of_unlabelled_texts_and_the_run_page_counts_them(owner_client, owner, corpus,
                                                                                         demo_teacher):
    """Through the Celery task and the engine, in seconds (a tiny teacher and student): the file attached on the
    corpus page joins training, and the run page's block says so with the engine's own numbers."""
    from tests.cldweb.test_api_runs import train_tiny_run

    texts = ["这个手机壳很好看", "电池不耐用，很失望", "快递三天就到了", "颜色和图片一样", "声音太小了"]
    upload(owner_client, corpus, "更多.txt", ("\n".join(texts) + "\n\n").encode("gb18030"))
    corpus.refresh_from_db()
    # Two labels: every unlabelled row passes a threshold of 0.5.
    run = train_tiny_run(owner, corpus, demo_teacher, mode="semi", virtual_label_threshold=0.5)
    rows = run.result["transfer"]["rows"]
    assert rows["unlabelled_file"] == len(texts)
    page = text_of(owner_client.get(reverse("run-detail", args=[run.pk])))
    assert f"Texts from the unlabelled texts file {len(texts):,}" in page
    total = rows["labelled"] + rows["unlabelled"] + rows["unlabelled_file"]
    assert f"Training rows The student learnt from {total:,} rows." in page
    virtual = run.result["transfer"]["virtual_labels"]
    assert virtual["candidates"] == virtual["passed"] == len(texts) + rows["unlabelled"]
    assert (f"{virtual['passed']:,} of {virtual['candidates']:,} unlabelled rows (100.0%) passed the 0.50 confidence "
            "threshold and were used as labels.") in page


def test_a_real_run_grown_light_from_the_form_shows_its_generated_rows(owner_client, owner, corpus, demo_teacher,
                                                                      django_capture_on_commit_callbacks):
    """The form's choice through the engine: generated rows by method and the teacher's examples on the run page."""
    from cldweb.tasks import run_distillation
    from tests.cldweb.test_api_runs import TINY_CONFIG

    with django_capture_on_commit_callbacks(execute=False):  # not enqueued: trained here, below
        owner_client.post(reverse("run-create"), run_form(corpus, demo_teacher, grow="light", grow_rows="100"))
    run = Run.objects.get()
    tiny = {section: dict(values) for section, values in TINY_CONFIG.items() if section != "train"}
    run.config = {**run.config, **{section: {**run.config[section], **values} for section, values in tiny.items()},
                  "train": {**run.config["train"], **{k: v for k, v in TINY_CONFIG["train"].items() if k != "mode"}}}
    run.save(update_fields=["config"])
    run_distillation.apply(args=(run.pk,))
    run.refresh_from_db()
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message)
    transfer = run.result["transfer"]
    made = sum(transfer["rows"]["generated"].values())
    assert 0 < made <= 100 and transfer["target_rows"] == 100 and transfer["examples"]
    page = text_of(owner_client.get(reverse("run-detail", args=[run.pk])))
    assert f"{made:,} of them generated." in page
    first = transfer["examples"][0]
    names = {"mask": "Masking words", "pos": "Replacing words by others of the same part of speech",
             "ngram": "Keeping a window of the text"}
    assert (f"{first['text']} {first['source_text']} {names[first['method']]} {first['label']} "
            f"{first['confidence'] * 100:.1f}%") in page
    assert "Grow the training set Light: 100 generated rows wanted (Masking words, Replacing words" in page
