"""Tasks are picked by name; an unknown one is refused with a code."""
from __future__ import annotations

import pytest

from distill.errors import ConfigError
from distill.tasks import get_task


def test_it_refuses_an_unknown_task_by_code() -> None:
    assert get_task("single").name == "single"
    assert get_task("tagging").name == "tagging"
    with pytest.raises(ConfigError) as caught:
        get_task("no_such_task")
    assert caught.value.code == "unknown_task"

