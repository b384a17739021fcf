"""The run form warns, before a student is picked, when that student is larger than the demo teacher:
such a student is slower than its teacher, and distilling into it gains nothing."""
from __future__ import annotations

import pytest
from django.urls import reverse

from cldweb.forms import NOMINAL_VOCABULARY, students_larger_than_the_demo_teacher
from cldweb.models import STUDENT_PRESETS
from distill import StudentConfig, TeacherConfig, demo_teacher_parameters, student_parameters

pytestmark = pytest.mark.django_db


def test_it_finds_the_small_transformer_larger_than_the_demo_teacher_and_the_default_student_smaller():
    teacher = demo_teacher_parameters(TeacherConfig(), NOMINAL_VOCABULARY, 2)
    textcnn = student_parameters(StudentConfig(architecture="textcnn", preset=STUDENT_PRESETS["textcnn"]),
                                 NOMINAL_VOCABULARY, 2)

    assert [architecture for architecture, _, _ in students_larger_than_the_demo_teacher()] == ["transformer"]
    assert textcnn * 5 < teacher  # the form's default student: the first run shows a small, fast model


def test_it_warns_on_the_run_form_before_the_larger_student_is_picked(owner_client, demo_teacher):
    [(_, student, teacher)] = students_larger_than_the_demo_teacher()

    english = owner_client.get(reverse("run-create"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = owner_client.get(reverse("run-create"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert 'id="larger-students"' in english
    assert (f"With the demo teacher, the student “Small transformer (the most capable; the slowest on a CPU)” would "
            f"be larger than its teacher (about {student / 1e6:.1f} million parameters against {teacher / 1e6:.1f} "
            "million") in english
    assert "TextCNN (the fastest" not in english.split('id="larger-students"')[1].split("</div>")[0]
    assert f"会比教师模型还大（对于约 4,000 个不同字符的语料，约 {student / 1e6:.1f} 百万参数" in chinese
