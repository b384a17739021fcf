"""Student models, chosen by name: BiLSTM, BiGRU, TextCNN and a small transformer.

``registry`` builds one from the config (presets fill in sizes), ``architectures`` holds the
models, ``teacher_init`` starts one from its teacher's weights, ``saving`` writes and reads it
(safetensors weights beside the config that rebuilds it; loading never needs pickle).
"""
from __future__ import annotations

from .architectures import (BiGRUStudent, BiLSTMStudent, Pooler, StudentModel, StudentOutput, TextCNNStudent,
                            TransformerStudent)
from .registry import POOLINGS, PRESETS, STUDENTS, build_student, count_parameters, resolve_student_config
from .saving import CONFIG_FILE, WEIGHTS_FILE, load_student, save_student
from .teacher_init import init_embeddings_from_teacher, init_from_teacher

__all__ = [
    "CONFIG_FILE", "POOLINGS", "PRESETS", "STUDENTS", "WEIGHTS_FILE", "BiGRUStudent", "BiLSTMStudent", "Pooler",
    "StudentModel", "StudentOutput", "TextCNNStudent", "TransformerStudent", "build_student", "count_parameters",
    "init_embeddings_from_teacher", "init_from_teacher", "load_student", "resolve_student_config", "save_student",
]
