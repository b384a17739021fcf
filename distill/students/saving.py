"""Saving and loading a student: safetensors weights and the config that rebuilds it; nothing is pickled."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import ConfigError
from .architectures import StudentModel
from .registry import STUDENTS, student_class

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "student_config.json"


def save_student(model: StudentModel, directory: str | Path) -> Path:
    """Write model.safetensors and student_config.json; nothing is pickled."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(weights, str(directory / WEIGHTS_FILE), metadata={"architecture": model.architecture})
    (directory / CONFIG_FILE).write_text(json.dumps(model.config, ensure_ascii=False, indent=2), encoding="utf-8")
    return directory


def load_student(directory: str | Path, device: str | torch.device = "cpu", *,
                 config_file: str = CONFIG_FILE) -> StudentModel:
    """Rebuild a student from its config and weights, in eval mode; a download names its config config.json."""
    directory = Path(directory)
    config = json.loads((directory / config_file).read_text(encoding="utf-8"))
    architecture = config.get("architecture")
    if architecture not in STUDENTS:
        raise ConfigError(f"{directory} holds an unknown student {architecture!r}", code="unknown_student",
                          architecture=architecture)
    model = student_class(config)(config)
    model.load_state_dict(load_file(str(directory / WEIGHTS_FILE), device=str(device)))
    return model.to(device).eval()
