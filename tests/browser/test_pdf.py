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


# Chromium's PDF maps some CJK glyphs to the radical of the same shape (骨 extracts as U+2EE3 ⻣):
# a radical in the printed text stands for any CJK character of the title (that 骨 is printed is
# what the screenshots and the font test show).
RADICAL = re.compile("[\u2e80-\u2fdf]")


def _printed(title: str, text: str) -> bool:
    """Whether ``title`` is in ``text``, a radical of the text standing for any CJK character."""
    pattern = "".join(
        f"(?:{re.escape(c)}|\x00)" if "\u4e00" <= c <= "\u9fff" else re.escape(c)
        for c in title
    )
    return re.search(pattern, RADICAL.sub("\x00", text)) is not None


@pytest.fixture(scope="module", params=sorted(PDFS))
def edition(request):
    return request.param, pypdf.PdfReader(PDFS[request.param])


def test_every_chapter_is_printed(edition):
    language, reader = edition
    # Lines wrap anywhere, and a wrapped line of Chinese text extracts with a space inside a word:
    # compare without whitespace.
    text = re.sub(r"\s+", "", _text(reader))
    assert len(CHAPTERS) == 6
    for notebook in CHAPTERS:
        # as _text normalises the printed text (NFKC: full-width punctuation becomes ASCII)
        said = _said(_title(notebook), language, notebook.stem)
        title = re.sub(r"\s+", "", unicodedata.normalize("NFKC", said))
        assert _printed(title, text), (
            f"{notebook.name}: its title is not in {PDFS[language].name}"
        )
    for heading, page in (
        ("Exercise 1.1: the parameters of a new head (derive and code)", "01_concepts"),
        ("Exercise 6.2: the FAQ, true or false (run and interpret)", "06_outlook"),
        ("References", "references"),
    ):
        said = re.sub(
            r"\s+", "", unicodedata.normalize("NFKC", _said(heading, language, page))
        )
        assert _printed(said.split(":")[0], text), (
            f"{said!r} is not in {PDFS[language].name}"
        )


def test_every_figure_is_printed_as_an_image(edition):
    _, reader = edition
    images = [
        im for page in reader.pages for im in page.images if min(im.image.size) > 64
    ]  # not the icons
    assert len(images) >= _figures_expected() > 10


def _font_names(reader) -> set[str]:
    """The names of every font the pages use: BaseFont, and the descriptor's name and family (Chromium
    embeds OpenType CJK fonts as Type 3 fonts, which have no BaseFont)."""
    names: set[str] = set()

    def walk(resources, depth=0):
        if resources is None or depth > 4:
            return
        resources = resources.get_object()
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            described = [
                font,
                *(d.get_object() for d in font.get("/DescendantFonts", [])),
            ]
            for f in described:
                names.add(str(f.get("/BaseFont", "")))
                descriptor = f.get("/FontDescriptor")
                if descriptor is not None:
                    descriptor = descriptor.get_object()
                    names.update(
                        str(descriptor.get(k, "")) for k in ("/FontName", "/FontFamily")
                    )
        for xobject in (resources.get("/XObject") or {}).values():
            walk(xobject.get_object().get("/Resources"), depth + 1)

    for page in reader.pages[:8]:
        walk(page.get("/Resources"))
    return names - {"", "None"}


def test_the_chinese_edition_embeds_a_cjk_font():
    reader = pypdf.PdfReader(PDFS["zh_CN"])
    fonts = _font_names(reader)
    assert any(
        re.search(r"CJK|Hei|Song|Ming|Kai|WenQuanYi|Fallback", f) for f in fonts
    ), fonts
    assert "迁移学习" in _text(reader)
