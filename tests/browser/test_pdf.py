"""The printed book (``make pdf`` -> ``_build/pdf/tlbook.pdf``) holds every chapter and every figure.

Chapter titles are the first heading of each chapter notebook; figures are
the image outputs of the notebooks plus the figures of the book's markdown
pages, each of which must be in the PDF as an embedded image (a figure that
failed to load prints as its alt text instead, which this test catches).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf")

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "_build" / "pdf" / "tlbook.pdf"
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))

if (
    not PDF.exists() and os.environ.get("TLBOOK_REQUIRE_BROWSER") == "1"
):  # CI: never skip silently
    raise RuntimeError(f"{PDF} is missing: make pdf")
pytestmark = pytest.mark.skipif(
    not PDF.exists(), reason="print the book first: make pdf"
)


def _text(reader) -> str:
    # NFKC undoes the printer's ligatures ("ﬁ" -> "fi"), Sphinx writes typographic apostrophes; whitespace
    # collapsed, since lines wrap anywhere.
    text = unicodedata.normalize(
        "NFKC", " ".join(p.extract_text() for p in reader.pages)
    ).replace("\u2019", "'")
    return re.sub(r"\s+", " ", text)


def _title(notebook: Path) -> str:
    first = json.loads(notebook.read_text())["cells"][0]
    return "".join(first["source"]).splitlines()[0].lstrip("# ").strip()


def _figures_expected() -> int:
    outputs = sum(
        1
        for nb in CHAPTERS
        for cell in json.loads(nb.read_text())["cells"]
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    )
    static = sum(
        len(re.findall(r"^```\{figure\}", md.read_text(), flags=re.M))
        for md in (ROOT / "book").glob("*.md")
    )
    return outputs + static


@pytest.fixture(scope="module")
def reader():
    return pypdf.PdfReader(PDF)


def test_every_chapter_is_printed(reader):
    text = _text(reader)
    assert len(CHAPTERS) == 6
    for notebook in CHAPTERS:
        assert _title(notebook) in text, (
            f"{notebook.name}: its title is not in {PDF.name}"
        )
    for heading in ("Exercise 1.1", "Exercise 6.2", "References"):
        assert heading in text


def test_every_figure_is_printed_as_an_image(reader):
    images = [
        im for page in reader.pages for im in page.images if min(im.image.size) > 64
    ]  # not the icons
    assert len(images) >= _figures_expected() > 10
