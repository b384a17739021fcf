"""Student models, chosen by name: BiLSTM, BiGRU, TextCNN and a small transformer; taggers (``taggers``) for NER.

``registry`` builds one from the config (presets fill in sizes), ``architectures`` holds the
models, ``teacher_init`` starts one from its teacher's weights, ``saving`` writes and reads it
(safetensors weights beside the config that rebuilds it; loading never needs pickle).
"""
from __future__ import annotations

from .architectures import (BiGRUStudent, BiLSTMStudent, Pooler, StudentModel, StudentOutput, TextCNNStudent,
                            TransformerEncoder, TransformerStudent)
from .registry import (POOLINGS, PRESETS, STUDENTS, TAGGERS, build_student, build_tagger, count_parameters,
                       resolve_student_config)
from .saving import CONFIG_FILE, WEIGHTS_FILE, load_student, save_student
from .taggers import BiGRUTagger, BiLSTMTagger, TaggerModel, TransformerTagger, crf_scores, left_align
from .teacher_init import init_embeddings_from_teacher, init_from_teacher

__all__ = [
    "CONFIG_FILE", "POOLINGS", "PRESETS", "STUDENTS", "TAGGERS", "WEIGHTS_FILE", "BiGRUStudent", "BiGRUTagger",
    "BiLSTMStudent", "BiLSTMTagger", "Pooler", "StudentModel", "StudentOutput", "TaggerModel", "TextCNNStudent",
    "TransformerEncoder", "TransformerStudent", "TransformerTagger", "build_student", "build_tagger",
    "count_parameters", "crf_scores", "init_embeddings_from_teacher", "init_from_teacher", "left_align",
    "load_student", "resolve_student_config", "save_student",
]
