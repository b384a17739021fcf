from __future__ import annotations

import pytest
from django.urls import reverse

from cldweb import jobs

pytestmark = pytest.mark.django_db


def test_it_shows_chinese_to_a_chinese_browser(owner_client):
    page = owner_client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()

    assert '<html lang="zh-hans">' in page
    assert "上传语料" in page  # "Upload corpus"


def test_it_switches_language_with_set_language(owner_client):
    owner_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = owner_client.get(reverse("teachers")).content.decode()
    assert "教师模型" in page
    assert "非预训练" in page  # "not pretrained" next to the demo teacher

    owner_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = owner_client.get(reverse("teachers")).content.decode()
    assert "Teachers" in page and "not pretrained" in page


def test_it_translates_upload_errors(owner_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = owner_client.post(
        reverse("corpus-upload"),
        {"file": SimpleUploadedFile("坏.csv", "text,label\n很好,pos,多余\n".encode())},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert "坏.csv，第 2 行" in response.content.decode()


def test_it_names_the_student_and_mode_in_words_on_the_run_page(owner_client, run):
    page = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "TextCNN（最快；读取 2–4 个字的窗口）" in page  # the translated choice, not the registry name "textcnn"
    assert "仅软标签（教师模型输出的概率）" in page


def test_it_gives_the_run_page_its_progress_line_in_chinese(owner_client, run):
    run.mark_stage("labelling")
    run.record_progress("labelling", {"done": 12_345, "total": 100_000, "eta_s": 180.0})

    page = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").context["run_page"]

    assert page["progress"] == {"stage": "labelling", "done": 12_345, "total": 100_000, "eta_s": 180.0}
    assert page["status_labels"]["labelling"] == "教师模型标注"
    assert page["progress_formats"]["minutes"] == "%(stage)s：%(done)s / %(total)s 条文本，约剩 %(minutes)s 分钟"
    assert page["progress_formats"]["under_a_minute"] == "%(stage)s：%(done)s / %(total)s 条文本，剩余不到 1 分钟"


def test_it_counts_training_stages_in_steps_in_both_languages(owner_client, run):
    run.mark_stage("distilling")
    run.record_progress("distilling", {"done": 120, "total": 300, "eta_s": 150.0})

    english = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").context["run_page"]
    chinese = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").context["run_page"]

    assert english["progress"] == {"stage": "distilling", "done": 120, "total": 300, "eta_s": 150.0}
    assert english["step_stages"] == ["finetuning_teacher", "distilling", "baseline"]  # labelling stays in texts
    assert english["step_progress_formats"] == {
        "no_eta": "%(stage)s: %(done)s of %(total)s steps",
        "minutes": "%(stage)s: %(done)s of %(total)s steps, about %(minutes)s min left",
        "under_a_minute": "%(stage)s: %(done)s of %(total)s steps, less than a minute left",
    }
    assert chinese["step_progress_formats"] == {
        "no_eta": "%(stage)s：%(done)s / %(total)s 步",
        "minutes": "%(stage)s：%(done)s / %(total)s 步，约剩 %(minutes)s 分钟",
        "under_a_minute": "%(stage)s：%(done)s / %(total)s 步，剩余不到 1 分钟",
    }
    assert (chinese["status_labels"]["finetuning_teacher"], chinese["status_labels"]["distilling"]) == \
        ("微调教师模型", "蒸馏学生模型")
    # The curves are named by stage, and both count steps from the start of their own stage.
    assert (english["labels"]["teacher"], english["labels"]["student"], english["labels"]["step"]) == \
        ("Teacher fine-tuning", "Student distillation", "Step within the stage")
    assert (chinese["labels"]["teacher"], chinese["labels"]["student"], chinese["labels"]["step"]) == \
        ("教师模型微调", "学生模型蒸馏", "本阶段步数")


def test_it_says_on_the_run_form_that_the_teacher_is_fine_tuned_first_and_for_how_long(owner_client, corpus):
    english = owner_client.get(reverse("run-create"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = owner_client.get(reverse("run-create"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "First the teacher is fine-tuned on the labelled rows of your corpus for 3 epochs" in english
    assert "each stage's progress and time left" in english
    assert "首先用语料中带标签的行把教师模型微调 3 轮" in chinese
    assert "会显示每个阶段的进度和剩余时间" in chinese
    # The demo teacher is not fine-tuned but trained from scratch, and a trained one is reused.
    assert "The demo teacher is not pretrained: these epochs are its whole training, from scratch." in english
    assert "演示教师模型没有经过预训练" in chinese and "从缓存中取用" in chinese


def test_it_says_where_and_how_the_results_were_measured(owner_client, run):
    jobs.record_result(run, {"status": "done", "export_path": "", "device": "cpu",
                       "environment": {"device_name": "AMD EPYC 7B13", "threads": 4, "precision": "bfloat16",
                                       "torch": "2.13.0"},
                       "training": {"steps": 1250, "stopped_early": True}})

    chinese = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    english = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "测量环境：CPU (AMD EPYC 7B13)，4 个线程，bfloat16 精度，PyTorch 2.13.0。" in chinese
    assert "学生模型训练了 1,250 步；验证集准确率不再提升，因此提前停止。" in chinese
    assert "Measured on CPU (AMD EPYC 7B13) with 4 threads in bfloat16 precision, PyTorch 2.13.0." in english


def test_it_does_not_call_a_labels_only_student_curve_distillation(owner_client, owner, corpus, demo_teacher):
    from cldweb.models import Run

    baseline = Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, mode="hard", epochs=1, max_length=32)
    distilled = Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, mode="soft", epochs=1, max_length=32)

    def student_curve(run) -> str:
        return owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").context["run_page"]["labels"]["student"]

    assert student_curve(baseline) == "学生模型（仅用标签训练）"
    assert student_curve(distilled) == "学生模型蒸馏"


def test_it_answers_a_json_client_in_its_language(client):
    refused = client.get("/api/runs/", HTTP_AUTHORIZATION="Bearer not-a-token", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refused.status_code == 401 and refused.json() == {"error": {"code": "token_invalid",
                                                                  "message": "API 令牌无效或已被吊销。"}}

    missing = client.get("/api/no-such-thing/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert missing.status_code == 404 and missing.json() == {"error": {"code": "not_found", "message": "未找到。"}}
