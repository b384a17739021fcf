"""Run failures reach the user as sentences in their language, not as codes."""
from __future__ import annotations

from django.utils import translation

from cldweb.messages import describe_error


def test_it_explains_a_lost_worker_in_both_languages():
    with translation.override("en"):
        english = describe_error("worker_lost", {"attempts": 3}, "fallback")
    with translation.override("zh-hans"):
        chinese = describe_error("worker_lost", {"attempts": 3}, "fallback")
    assert "3 times" in english
    assert "3 次" in chinese


def test_it_points_an_offline_user_to_the_teacher_upload():
    with translation.override("en"):
        message = describe_error("teacher_unavailable", {"teacher": "bert-base-chinese"}, "fallback")
    assert "bert-base-chinese" in message and "Teachers page" in message and "import_teacher" in message


def test_it_falls_back_to_the_engine_message_for_unknown_codes():
    assert describe_error("some_new_code", {}, "The engine said so.") == "The engine said so."
