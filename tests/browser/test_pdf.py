"""The printed books (``make pdf`` -> ``_build/pdf/tlbook.pdf`` and ``tlbook-zh_CN.pdf``) hold every chapter and figure.

Chapter titles are the first heading of each chapter notebook; figures are
the image outputs of the notebooks plus the figures of the book's markdown
pages, each of which must be in the PDF as an embedded image (a figure that
failed to load prints as its alt text instead, which this test catches).
The Chinese edition's titles are their translations in the catalogues, and its
text is set in a CJK font that the PDF embeds.
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
PDFS = {
    "en": ROOT / "_build" / "pdf" / "tlbook.pdf",
    "zh_CN": ROOT / "_build" / "pdf" / "tlbook-zh_CN.pdf",
}
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))
CATALOGUES = ROOT / "locale" / "zh_CN" / "LC_MESSAGES" / "book"

_MISSING = [str(p) for p in PDFS.values() if not p.exists()]
if (
    _MISSING and os.environ.get("TLBOOK_REQUIRE_BROWSER") == "1"
):  # CI: never skip silently
    raise RuntimeError(f"{', '.join(_MISSING)} missing: make pdf")
pytestmark = pytest.mark.skipif(bool(_MISSING), reason="print the book first: make pdf")


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


def _said(text: str, language: str, page: str) -> str:
    """``text`` as the edition in ``language`` prints it (the catalogue's translation of that message)."""
    if language == "en":
        return text
    import polib

    found = {e.msgid: e.msgstr for e in polib.pofile(str(CATALOGUES / f"{page}.po"))}
    assert found.get(text), f"{page}.po does not translate {text!r}"
    return found[text]


@pytest.fixture(scope="module", params=sorted(PDFS))
def edition(request):
    return request.param, pypdf.PdfReader(PDFS[request.param])


def test_every_chapter_is_printed(edition):
    language, reader = edition
    text = _text(reader)
    assert len(CHAPTERS) == 6
    for notebook in CHAPTERS:
        title = _said(_title(notebook), language, notebook.stem)
        assert title in text, (
            f"{notebook.name}: its title is not in {PDFS[language].name}"
        )
    for heading, page in (
        ("Exercise 1.1: the parameters of a new head (derive and code)", "01_concepts"),
        ("Exercise 6.2: the FAQ, true or false (run and interpret)", "06_outlook"),
        ("References", "references"),
    ):
        said = _said(heading, language, page)
        assert said in text or said.split("：")[0].split(":")[0] in text


def test_every_figure_is_printed_as_an_image(edition):
    _, reader = edition
    images = [
        im for page in reader.pages for im in page.images if min(im.image.size) > 64
    ]  # not the icons
    assert len(images) >= _figures_expected() > 10


def test_the_chinese_edition_embeds_a_cjk_font():
    reader = pypdf.PdfReader(PDFS["zh_CN"])
    fonts = {
        str(font.get_object().get("/BaseFont", ""))
        for page in reader.pages[:5]
        for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values()
    }
    assert any(
        re.search(r"CJK|Hei|Song|Ming|Kai|WenQuanYi|Fallback", f) for f in fonts
    ), fonts
    assert "迁移学习" in _text(reader)
