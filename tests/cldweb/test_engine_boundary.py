"""The web layer uses the engine only through its public face, ``distill/__init__.py``."""
from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import distill

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "cldweb"
ENGINE_SUBMODULES = {info.name for info in pkgutil.iter_modules(distill.__path__)}  # config, corpus, export, ...


def _engine_submodule_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a ``distill.<submodule>`` in one file, however it is spelled."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("distill.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("distill."):
                found.append((node.lineno, node.module))
            elif node.module == "distill":  # ``from distill import export`` is a submodule import too
                found += [(node.lineno, f"distill.{alias.name}") for alias in node.names
                          if alias.name in ENGINE_SUBMODULES]
    return sorted(found)


def test_it_finds_an_engine_submodule_import_however_it_is_written(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import distill\nfrom distill import run\nimport distill.export as export\n"
                      "def f():\n    from distill.corpus.reading import CorpusStream\n    from distill import datasets\n",
                      encoding="utf-8")
    assert _engine_submodule_imports(sample) == [(3, "distill.export"), (5, "distill.corpus.reading"),
                                                 (6, "distill.datasets")]


def test_it_imports_nothing_from_the_engine_but_its_public_face() -> None:
    offending = []
    for path in sorted(WEB.rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        for line, module in _engine_submodule_imports(path):
            offending.append(f"{relative}:{line} imports {module}")
    assert offending == []
