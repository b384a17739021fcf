"""The results say truthfully how much faster and smaller the student is, and warn when it is not."""
from __future__ import annotations

import pytest

from cldweb import jobs
from cldweb.forms import RunForm

pytestmark = pytest.mark.django_db


def _finish(run, teacher: dict, student: dict) -> None:
    jobs.record_result(run, {"status": "done", "export_path": "", "device": "cpu",
                       "teacher": {"test_accuracy": 0.81, "size_bytes": 11_000_000, **teacher},
                       "student": {"test_accuracy": 0.80, "size_bytes": 1_100_000, **student}})


def _page(client, run, language: str) -> str:
    return client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_it_says_how_many_times_faster_and_smaller_the_student_is(owner_client, run):
    _finish(run, {"parameters": 2_893_570, "latency_p50_ms": 3.36, "latency_p95_ms": 5.9, "samples_per_second": 410.0},
            {"parameters": 331_000, "latency_p50_ms": 0.8, "latency_p95_ms": 1.1, "samples_per_second": 9_120.4})

    english, chinese = _page(owner_client, run, "en"), _page(owner_client, run, "zh-hans")

    assert "The student answers a single text 4.2× faster than the teacher (median time) and is 8.7× smaller." in english
    assert "学生模型比教师模型快 4.2 倍（单条，中位数），小 8.7 倍。" in chinese
    assert "Latency p50 (ms, 1 text)" in english and "延迟中位数（毫秒，单条）" in chinese
    assert "<td class=\"num\">3.4</td>" in english and "<td class=\"num\">0.80</td>" in english  # p50 in ms
    assert "9,120" in english  # texts a second in batches of 32
    assert "slower than its teacher" not in english and "as fast" not in english


def test_it_warns_in_both_languages_when_the_student_is_slower_and_larger(owner_client, run):
    _finish(run, {"parameters": 1_037_186, "latency_p50_ms": 1.9, "latency_p95_ms": 3.1, "samples_per_second": 2_000.0},
            {"parameters": 1_200_000, "latency_p50_ms": 5.3, "latency_p95_ms": 8.0, "samples_per_second": 700.0})

    english, chinese = _page(owner_client, run, "en"), _page(owner_client, run, "zh-hans")

    assert ("The student is slower than its teacher on this machine (5.3 ms against 1.9 ms for one text). "
            "A smaller student or a shorter maximum length makes it faster.") in english
    assert ("The student is larger than its teacher (1,200,000 parameters against 1,037,186). "
            "A smaller student would make distillation worth it.") in english
    assert "在这台机器上，学生模型比教师模型还慢（处理一条文本要 5.3 毫秒，教师只要 1.9 毫秒）。" in chinese
    assert "学生模型比教师模型还大（1,200,000 个参数，教师只有 1,037,186 个）。" in chinese
    assert "as fast" not in english and "× faster" not in english and "× smaller" not in english
    assert 'class="notice speed-warning" role="alert"' in english


def test_it_offers_the_tiny_textcnn_as_the_default_student(owner, corpus, demo_teacher, run):
    assert RunForm(user=owner).fields["student_architecture"].initial == "textcnn"
    config = run.build_config()
    assert (config.student.architecture, config.student.preset) == ("textcnn", "tiny")
