"""The house rules that a reorganisation must keep: one home per job, checked, not hoped for."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import ROOT

SRC = ROOT / "src" / "tlbook"


def _source(name: str) -> str:
    return (SRC / name).read_text(encoding="utf-8")


def test_the_environment_is_read_in_config_only():
    """Settings come from tlbook.config.get_config; the two exceptions own their variables (the grader's
    protocol with the notebooks it runs, in grading and sandbox; torchrun's launcher contract)."""
    allowed = {"config.py", "grading.py", "sandbox.py", "distributed.py"}
    readers = {
        path.name
        for path in SRC.glob("*.py")
        if re.search(
            r"os\.environ\.get|os\.getenv|environ\[", path.read_text(encoding="utf-8")
        )
    }
    assert readers <= allowed, (
        f"reads the environment outside tlbook.config: {sorted(readers - allowed)}"
    )


def test_every_error_class_lives_in_errors():
    defined = {
        path.name: [
            node.name
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ClassDef)
            and any(
                getattr(b, "id", getattr(b, "attr", "")).endswith(
                    ("Error", "Mismatch", "Missing", "Unavailable")
                )
                for b in node.bases
            )
        ]
        for path in SRC.glob("*.py")
    }
    elsewhere = {
        name: classes
        for name, classes in defined.items()
        if classes and name != "errors.py"
    }
    assert not elsewhere, f"error classes outside tlbook.errors: {elsewhere}"


@pytest.mark.parametrize(
    "module",
    [
        "files",
        "errors",
        "images",
        "grading",
        "sandbox",
        "gradebook",
        "schemas",
        "config",
    ],
)
def test_light_modules_do_not_import_torch(module):
    """Tools and the grader write files and grade notebooks without importing torch (seconds, not minutes)."""
    import subprocess
    import sys

    code = f"import sys, tlbook.{module}; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", f"tlbook.{module} imports torch"


def test_no_module_patches_another_objects_methods():
    """Freezing BatchNorm is a plain function (set_bn_eval), not a replaced train() method."""
    for path in SRC.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "types.MethodType" not in text and "_tlbook_hook" not in text, path.name
