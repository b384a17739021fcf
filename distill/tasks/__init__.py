"""Tasks: what a corpus row means for one kind of problem, picked by ``DataConfig.task``.

Today there is one, ``single`` (one text, one label: sentiment, topic, intent).
The ``pair`` task (two texts, e.g. sentence similarity) and the ``tagging`` task
(one BIO tag per token, e.g. NER) come next: each is one more module here with a
``Task`` subclass, registered in ``TASKS``; ``Example.text_pair`` and
``Example.tags`` already hold their extra fields. Single-label predictions are
scored as accuracy in ``distill/evaluate.py``; a task that scores differently
(entity-level F1 for tagging) brings its scoring here with it.

No torch here: the corpus reader uses tasks in the web process.
"""
from __future__ import annotations

from ..errors import ConfigError
from .base import Task, normalize_text
from .single import SingleTextTask

TASKS: dict[str, Task] = {"single": SingleTextTask()}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(TASKS)}", code="unknown_task",
                          task=name, available=list(TASKS)) from None


__all__ = ["TASKS", "SingleTextTask", "Task", "get_task", "normalize_text"]
