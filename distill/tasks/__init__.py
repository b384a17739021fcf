"""Tasks: what a corpus row means for one kind of problem, picked by ``DataConfig.task``.

``single`` (one text, one label: sentiment, topic, intent) and ``pair`` (two
texts, one label: question matching, paraphrase, inference). The ``tagging``
task (one BIO tag per token, e.g. NER) is one more module here with a ``Task``
subclass, registered in ``TASKS``; ``Example.tags`` already holds its field. Single-label predictions are
scored as accuracy in ``distill/evaluate.py``; a task that scores differently
(entity-level F1 for tagging) brings its scoring here with it.

No torch here: the corpus reader uses tasks in the web process.
"""
from __future__ import annotations

from ..errors import ConfigError
from .base import Task, normalize_text
from .pair import PAIR_SEPARATOR, PairTask, join_pair, shown_text, split_pair
from .single import SingleTextTask

TASKS: dict[str, Task] = {"single": SingleTextTask(), "pair": PairTask()}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(TASKS)}", code="unknown_task",
                          task=name, available=list(TASKS)) from None


__all__ = ["PAIR_SEPARATOR", "TASKS", "PairTask", "SingleTextTask", "Task", "get_task", "join_pair", "normalize_text",
           "shown_text", "split_pair"]
