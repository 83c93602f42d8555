"""Code fits the rendered page: no code line in a book or exercise notebook is wider than the column.

The book's theme shows about 88 characters of code before a line scrolls
sideways, and a printed page (``make pdf``) cuts it off. The chapters'
sources are formatted with ``black --line-length 88``; this test checks the
notebooks readers get, which are generated from them.
"""

import json
from pathlib import Path

import pytest
from conftest import ROOT

WIDTH = 88  # characters of code the rendered column shows
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb")) + sorted(
    (ROOT / "exercises").glob("*.ipynb")
)


def too_wide(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return [
        f"{notebook.name}, cell {i}: {len(line)} characters: {line.strip()[:60]}..."
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if len(line) > WIDTH
    ]


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 12


@pytest.mark.parametrize(
    "notebook", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_no_code_line_is_wider_than_the_page(notebook):
    assert too_wide(notebook) == []


def test_the_check_finds_a_wide_line(tmp_path):
    nb = tmp_path / "wide.ipynb"
    nb.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "source": ["x = 1\n", "y = '" + "a" * 90 + "'"],
                    },
                    {"cell_type": "markdown", "source": ["b" * 200]},
                ]
            }
        )
    )
    assert len(too_wide(nb)) == 1
