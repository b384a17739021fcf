"""Teachers: load safely, build a demo one, fine-tune when it has no head, cache its outputs.

``safety`` refuses a checkpoint that would need pickle or custom code before anything in it runs;
``loading`` loads one with transformers (safetensors only) and fingerprints it; ``demo`` builds a
small untrained BERT; ``finetune`` trains a teacher's head on the one training loop;
``labelling`` and ``intermediates`` compute its outputs once and serve them from an on-disk cache;
``tagging`` does all of that for a token-classification (NER) teacher, its outputs one row per character.
"""
from __future__ import annotations

from .demo import build_demo_teacher, build_vocab_tokenizer
from .finetune import (FINETUNE_MARKER, FINETUNED_TEACHERS, TEACHER_CHECKPOINT_DIR, finetune_key, finetune_teacher,
                       finetuned_dir, finished_finetune, reload_finetuned)
from .intermediates import TeacherIntermediates, cached_intermediates_available, intermediate_key, teacher_intermediates
from .labelling import cache_key, cached_logits_available, teacher_encode, teacher_logits, texts_digest
from .labelling_precision import LABELLING_PRECISIONS, PrecisionChoice, choose_labelling_precision
from .loading import LoadedTeacher, fingerprint_folder, head_ready, load_teacher, unavailable_message, weight_shapes
from .tagging import (CharLogits, cached_char_logits_available, char_logits_key, finetune_tagging_teacher,
                      load_tagging_teacher, reload_tagging_finetuned, tagging_finetune_key, teacher_char_logits)
from .speed import read_teacher_speed, speed_key, write_teacher_speed
from .safety import (PICKLE_SUFFIXES, SAFE_WEIGHT_NAMES, TOKENIZER_FILES, check_model_files, check_teacher_folder,
                     describe_teacher_folder)

__all__ = [
    "FINETUNED_TEACHERS", "FINETUNE_MARKER", "LABELLING_PRECISIONS", "PrecisionChoice", "choose_labelling_precision", "PICKLE_SUFFIXES", "SAFE_WEIGHT_NAMES",
    "TEACHER_CHECKPOINT_DIR", "TOKENIZER_FILES", "CharLogits", "LoadedTeacher", "TeacherIntermediates",
    "build_demo_teacher", "cached_char_logits_available", "char_logits_key", "finetune_tagging_teacher", "load_tagging_teacher",
    "reload_tagging_finetuned", "tagging_finetune_key", "teacher_char_logits",
    "build_vocab_tokenizer", "cache_key", "cached_intermediates_available", "cached_logits_available",
    "check_model_files", "check_teacher_folder", "describe_teacher_folder", "finetune_key", "finetune_teacher",
    "finetuned_dir", "finished_finetune", "fingerprint_folder", "head_ready", "intermediate_key", "load_teacher",
    "read_teacher_speed", "reload_finetuned", "speed_key", "teacher_encode", "teacher_intermediates", "teacher_logits",
    "texts_digest", "unavailable_message", "weight_shapes", "write_teacher_speed",
]
