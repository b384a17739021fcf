"""The engine never pulls in the web stack: checked in a fresh interpreter, where imports are not shared."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEB_PACKAGES = ("django", "celery", "channels", "channels_redis", "daphne", "cldweb")


def test_it_imports_the_whole_engine_without_any_web_package() -> None:
    script = (
        "import json, sys\n"
        "import distill, distill.pipeline, distill.cli, distill.teachers, distill.students, distill.training.loop\n"
        "import distill.training.distillation, distill.export\n"
        f"web = {WEB_PACKAGES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in web)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                               env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []


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
