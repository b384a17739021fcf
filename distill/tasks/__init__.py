"""Tasks: what a corpus row means for one kind of problem, picked by ``DataConfig.task``.

``single`` (one text, one label: sentiment, topic, intent) and ``tagging``
(one BIO tag per character, NER: tagging.py, its schemes in tagging_schemes.py,
its entity-level scores in tagging_metrics.py). The ``pair`` task (two texts,
e.g. sentence similarity) comes next: one more module here with a ``Task``
subclass, registered in ``TASKS``; ``Example.text_pair`` already holds its extra
field. Single-label predictions are scored as accuracy in ``distill/evaluate.py``;
a task that scores differently (entity-level F1 for tagging) brings its scoring here.

No torch here: the corpus reader uses tasks in the web process.
"""
from __future__ import annotations

from ..errors import ConfigError
from .base import Task, normalize_text
from .single import SingleTextTask
from .tagging import TaggingTask

TASKS: dict[str, Task] = {"single": SingleTextTask(), "tagging": TaggingTask()}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(TASKS)}", code="unknown_task",
                          task=name, available=list(TASKS)) from None


__all__ = ["TASKS", "SingleTextTask", "TaggingTask", "Task", "get_task", "normalize_text"]
