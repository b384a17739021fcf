"""The engine never pulls in the web stack, and the parts the web imports never pull in torch.

Checked in a fresh interpreter, where imports are not shared with the test session.
"""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import distill
import distill.corpus

REPO = Path(__file__).resolve().parents[2]
WEB_PACKAGES = ("django", "celery", "channels", "channels_redis", "daphne", "cldweb")
# torch and what only torch-side code loads; numpy is fine in the web process (the row store uses it).
TORCH_PACKAGES = ("torch", "transformers", "safetensors", "tokenizers", "jieba")


def _modules_loaded_by(imports: str, packages: tuple[str, ...]) -> list[str]:
    """The modules of ``packages`` in sys.modules after ``import <imports>`` in a fresh interpreter."""
    script = (
        "import json, sys\n"
        f"import {imports}\n"
        f"packages = {packages!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in packages)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _modules_under(package: ModuleType) -> list[str]:
    """Every module of ``package``, found on disk, so a module added or moved later is checked too."""
    found = pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
    return sorted(info.name for info in found if not info.name.endswith(".__main__"))  # __main__ would run the CLI


def test_it_imports_the_whole_engine_without_any_web_package() -> None:
    engine = _modules_under(distill)
    assert "distill.pipeline" in engine and "distill.corpus.reading" in engine  # the walk found the engine

    assert _modules_loaded_by(", ".join(["distill", *engine]), WEB_PACKAGES) == []


def test_it_imports_the_public_face_and_the_corpus_package_without_torch() -> None:
    corpus = _modules_under(distill.corpus)
    assert "distill.corpus.reading" in corpus and "distill.corpus.splits" in corpus  # the walk found the package

    assert _modules_loaded_by(", ".join(["distill", "distill.tasks", *corpus]), (*TORCH_PACKAGES, *WEB_PACKAGES)) == []


def test_it_offers_the_teacher_folder_check_without_importing_torch_up_front() -> None:
    script = (
        "import json, sys\n"
        "import distill\n"
        "print(json.dumps([callable(distill.check_teacher_folder), callable(distill.describe_teacher_folder),\n"
        "                  sorted(m for m in ('torch', 'safetensors', 'transformers') if m in sys.modules)]))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == [True, True, []]
