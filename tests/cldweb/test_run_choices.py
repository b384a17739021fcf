"""Every student and mode the run form offers is one the engine accepts and can build."""
from __future__ import annotations

import pytest
import torch
from django.urls import reverse

from cldweb.models import MODE_CHOICES, STUDENT_CHOICES, Run
from distill import students
from distill.config import RunConfig
from distill.pipeline import validate_config


@pytest.mark.parametrize("architecture", [value for value, _ in STUDENT_CHOICES])
@pytest.mark.parametrize("mode", [value for value, _ in MODE_CHOICES])
def test_it_creates_runs_the_engine_accepts_for_every_choice(owner_client, corpus, demo_teacher, architecture, mode):
    response = owner_client.post(reverse("run-create"), {
        "corpus": corpus.pk, "teacher": demo_teacher.pk, "student_architecture": architecture,
        "mode": mode, "epochs": 2, "max_length": 64,
    })
    assert response.status_code == 302
    run = Run.objects.get(owner=corpus.owner)
    config = RunConfig.from_dict(run.config)
    assert (config.student.architecture, config.train.mode) == (architecture, mode)
    validate_config(config)
    model = students.build_student(config.student, vocab_size=40, num_labels=2)
    input_ids = torch.randint(2, 40, (3, 7))  # (B, T)
    assert model(input_ids, torch.ones_like(input_ids)).shape == (3, 2)  # logits (B, C)
