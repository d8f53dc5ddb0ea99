"""The layer rule: ``alphacode/`` is the base, each stage imports only the base and earlier stages.

Training: pretrain -> finetune. Inference: sampling -> clustering -> evaluation. Only the entry point
(``alphacode/cli.py``, ``alphacode/__main__.py``) imports everything. Every import counts, at the top
of a file or inside a function, and so does ``lazy_import("name")``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

ALLOWED = {
    "alphacode": {"alphacode"},
    "pretrain": {"alphacode", "pretrain"},
    "finetune": {"alphacode", "pretrain", "finetune"},
    "configs": {"alphacode", "pretrain", "finetune", "configs"},
    "sampling": {"alphacode", "sampling"},
    "clustering": {"alphacode", "sampling", "clustering"},
    "evaluation": {"alphacode", "sampling", "clustering", "evaluation"},
}
ENTRY_POINTS = {"alphacode/cli.py", "alphacode/__main__.py"}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import in ``source``, at any depth, and every ``lazy_import("module")`` call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "lazy_import"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(root: Path) -> list[str]:
    """Every import under ``root`` that breaks the layer rule, as ``path:line: layer imports module``."""
    broken = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((root / layer).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative in ENTRY_POINTS:
                continue
            for line, module in imported_modules(path.read_text(encoding="utf-8")):
                top = module.split(".")[0]
                if top in ALLOWED and top not in allowed:
                    broken.append(f"{relative}:{line}: {layer} imports {module}")
    return broken


def test_the_project_keeps_its_layers() -> None:
    assert violations(ROOT) == []


def test_a_forbidden_import_is_found_wherever_it_hides(tmp_path: Path) -> None:
    (tmp_path / "alphacode").mkdir()
    (tmp_path / "alphacode" / "base.py").write_text(
        "from alphacode.fileio import atomic_write\n"
        "from alphacode.lazy import lazy_import\n\n"
        "store = lazy_import('sampling.store')\n\n"
        "def helper():\n    import clustering.pipeline\n")
    (tmp_path / "alphacode" / "cli.py").write_text("import evaluation.contest\n")  # the entry point may
    (tmp_path / "sampling").mkdir()
    (tmp_path / "sampling" / "up.py").write_text("from finetune.tasks import solution_examples\n")
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune" / "ok.py").write_text("import pretrain.corpus\nimport alphacode.splits\n")
    assert violations(tmp_path) == [
        "alphacode/base.py:4: alphacode imports sampling.store",
        "alphacode/base.py:7: alphacode imports clustering.pipeline",
        "sampling/up.py:1: sampling imports finetune.tasks",
    ]


def test_light_commands_load_no_heavy_library() -> None:
    """``alphacode --help``, ``judge`` and the sandbox's workers must not pay for JAX, Ray, TensorFlow or orbax."""
    heavy = ("jax", "ray", "tensorflow", "seqio", "orbax", "matplotlib", "flax", "optax")
    code = ("import sys, alphacode.cli, alphacode.execution.zygote\n"
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""
