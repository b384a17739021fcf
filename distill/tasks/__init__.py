"""Tasks: what a corpus row means for one kind of problem, picked by ``DataConfig.task``.

``single`` (one text, one label: sentiment, topic, intent), ``pair`` (two texts,
one label: question matching, paraphrase, inference; pair.py) and ``tagging``
(one BIO tag per character, NER: tagging.py, its schemes in tagging_schemes.py,
its entity-level scores in tagging_metrics.py). Single-label predictions are
scored as accuracy in ``distill/evaluate.py``; a task that scores differently
(entity-level F1 for tagging) brings its scoring here. A run trains the tasks in
``config.TASKS``; tagging corpora are read and scored here, and the pipeline's
token-level training is the part still to come.

No torch here: the corpus reader uses tasks in the web process.
"""
from __future__ import annotations

from ..errors import ConfigError
from .base import Task, normalize_text
from .pair import PAIR_SEPARATOR, PairTask, join_pair, shown_text, split_pair
from .single import SingleTextTask
from .tagging import TaggingTask

TASKS: dict[str, Task] = {"single": SingleTextTask(), "pair": PairTask(), "tagging": TaggingTask()}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; available: {', '.join(TASKS)}", code="unknown_task",
                          task=name, available=list(TASKS)) from None


__all__ = ["PAIR_SEPARATOR", "TASKS", "PairTask", "SingleTextTask", "TaggingTask", "Task", "get_task", "join_pair",
           "normalize_text", "shown_text", "split_pair"]
