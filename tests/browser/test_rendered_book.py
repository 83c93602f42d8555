"""The rendered book in a real browser: every page loads, figures load, equations are typeset.

Run after ``make book`` (``make browser-test`` does both): the built site is
copied, served on localhost with Debian's MathJax 2 in place of the CDN's
(``tools/local_site.py``; the test machine has no internet), and every page
is opened in headless Chromium (Debian's ``chromium``). For each page:

* no JavaScript error reaches the console (messages from scripts that only
  exist on a CDN, such as the widget manager, are expected offline and ignored);
* every ``<img>`` is served (HTTP 200) and decodes as an image;
* where the page has math, MathJax has typeset it (rendered MathJax elements
  in the DOM after the scripts ran);
* pages with widgets also show their static fallback figure;
* figures are numbered, and the bibliography lists every entry of references.bib;
* a chapter's ``.ipynb`` button downloads a valid, executed notebook;
* a screenshot is saved to ``_build/screenshots/`` (look at them).

The Chinese edition (``_build/html/zh_CN/``) is opened the same way, page by
page; in addition every page links to the same page in the other edition,
each Chinese page has its English page's figures, code cells and glued
numbers, and Chinese text is drawn by a real font (distinct glyphs), not by
the boxes a browser draws for characters no font has.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from urllib.request import urlopen

import local_site  # tools/, put on sys.path by conftest.py
import nbformat
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
# Console noise that is expected offline: scripts that only exist on a CDN.
OFFLINE_NOISE = (
    "cdn.jsdelivr.net",
    "cdnjs.cloudflare.com",
    "net::ERR_",
    "require.js",
    "Failed to load resource",
)

_MISSING = (
    [] if (HTML / "index.html").exists() else ["build the book first: make book"]
) + local_site.missing()
if (
    _MISSING and os.environ.get("TLBOOK_REQUIRE_BROWSER") == "1"
):  # CI: never skip silently
    raise RuntimeError("the browser test cannot run: " + "; ".join(_MISSING))
pytestmark = pytest.mark.skipif(bool(_MISSING), reason="; ".join(_MISSING))

ZH = "zh_CN/"  # where the Chinese edition sits inside the English site (tools/editions.py)
PAGES = sorted(
    page
    for p in HTML.rglob("*.html")
    if not (page := p.relative_to(HTML).as_posix())
    .removeprefix(ZH)
    .startswith(("_", "genindex", "search"))
)
CHINESE = [p for p in PAGES if p.startswith(ZH)]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built book with local MathJax, served on a free localhost port."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with local_site.serve(HTML, copy_to=tmp_path_factory.mktemp("site")) as url:
        yield url


chromium = local_site.chromium


def test_there_are_pages():
    assert "index.html" in PAGES and any(p.startswith("book/0") for p in PAGES)
    english = {p for p in PAGES if p.startswith("book/")}
    assert english and {p.removeprefix(ZH) for p in CHINESE} >= english, (
        "every English page has a Chinese edition"
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(site, page):
    url = f"{site}/{page}"
    run = chromium("--dump-dom", url)
    dom = run.stdout
    assert "</html>" in dom, f"{page}: no DOM dumped ({run.stderr[-500:]})"
    console = [
        line
        for line in run.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line
    ]
    errors = [
        line
        for line in console
        if ("Uncaught" in line or ":ERROR:" in line or "Error" in line)
        and not any(noise in line for noise in OFFLINE_NOISE)
    ]
    assert not errors, f"{page}: JavaScript errors: {errors[:5]}"

    for src in sorted(set(re.findall(r'<img[^>]+src="([^"]+)"', dom))):
        if src.startswith(("http://", "https://", "data:")) and not src.startswith(
            site
        ):
            continue
        target = (
            src
            if src.startswith("http")
            else f"{site}/{(Path(page).parent / src).as_posix()}"
        )
        with urlopen(target) as response:
            assert response.status == 200, f"{page}: {src} not served"
            Image.open(
                io.BytesIO(response.read())
            ).verify()  # raises if not a decodable image

    source = (HTML / page).read_text(encoding="utf-8")
    # a marker such as <!-- claim:... --> must stay invisible, never be shown as text
    assert not re.search("&lt;!(--|\u2013)", source), (
        f"{page}: an HTML comment shown as text"
    )
    if 'class="math' in source:
        math = len(re.findall(r'class="math notranslate', source))
        typeset = len(
            re.findall(r'<script type="math/tex[^"]*" id="MathJax-Element-', dom)
        )
        assert typeset >= math, (
            f"{page}: MathJax typeset {typeset} of the page's {math} equations"
        )
        assert not re.search(r'class="(MathJax_Error|merror|MJXc-merror)"', dom), (
            f"{page}: a TeX error in an equation"
        )
    if "widget-view+json" in source:
        # Callbacks do not run in the static book: each widget page shows what the widget does as a
        # figure of its own, named fig-...-static.
        assert re.search(r'id="fig-[a-z0-9-]+-static"', dom), (
            f"{page}: has a widget but not its static fallback figure"
        )

    if "<figure" in source:
        assert re.search(
            r'<span class="caption-number">(Fig\.|图) ?\d+ ?</span>', dom
        ), f"{page}: figures are not numbered"

    shot = SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")
    chromium(f"--screenshot={shot}", "--window-size=1280,2400", url)
    assert shot.exists() and Image.open(shot).size == (1280, 2400), (
        f"{page}: no screenshot"
    )


def test_bibliography_lists_every_entry(site):
    entries = len(
        re.findall(r"^@\w+\{", (ROOT / "references.bib").read_text(), flags=re.M)
    )
    dom = chromium("--dump-dom", f"{site}/book/references.html").stdout
    listed = dom.count('role="doc-biblioentry"')
    assert listed == entries, (
        f"the references page lists {listed} of the {entries} entries in references.bib (cite each)"
    )


@pytest.mark.parametrize("page", [p for p in PAGES if re.match(r"book/\d\d_", p)])
def test_notebook_download_saves_a_notebook(site, page):
    # The ".ipynb" button must download a file Jupyter opens, not open raw JSON in a tab (_ext/download_notebooks.py).
    source = (HTML / page).read_text(encoding="utf-8")
    name = Path(page).with_suffix(".ipynb").name
    links = re.findall(r'<a href="([^"]*_sources/[^"]+\.ipynb)"([^>]*)>', source)
    assert links, f"{page}: no .ipynb download link"
    for href, attributes in links:
        assert f'download="{name}"' in attributes and "_blank" not in attributes, (
            f"{page}: {attributes}"
        )
        with urlopen(f"{site}/{(Path(page).parent / href).as_posix()}") as response:
            notebook = nbformat.reads(response.read().decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
        assert any(
            cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"
        ), "executed"


EDITION_LINK = re.compile(r'<nav class="tlbook-editions"[^>]*>(.*?)</nav>', re.S)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.removeprefix(ZH).startswith("book/")]
)
def test_each_page_links_to_itself_in_the_other_edition(page):
    nav = EDITION_LINK.search((HTML / page).read_text(encoding="utf-8"))
    assert nav, f"{page}: no link to the other edition"
    (href,) = re.findall(r'href="([^"]+)"', nav[1])
    target = (HTML / page).parent.joinpath(href).resolve()
    other = page.removeprefix(ZH) if page.startswith(ZH) else ZH + page
    assert target == (HTML / other).resolve() and target.exists(), f"{page} -> {href}"
    back = EDITION_LINK.search(target.read_text(encoding="utf-8"))
    (back_href,) = re.findall(r'href="([^"]+)"', back[1])
    assert target.parent.joinpath(back_href).resolve() == (HTML / page).resolve()


def _content(html: str) -> dict[str, list[str]]:
    """What must be the same in both editions of a page: figures, code, glued numbers."""
    article = html[html.find("<article") : html.rfind("</article>")]
    return {
        "figures": re.findall(r'<img[^>]+src="[^"]*?([^"/]+)"', article),
        "code cells": re.findall(r'<div class="cell[ "]', article),
        "code": re.findall(r"<pre>(.*?)</pre>", article, flags=re.S),
        # a glued value without words (a number) is printed as it is in both editions, where the
        # sentence puts it (word order differs between the languages)
        "glued numbers": sorted(
            v
            for v in re.findall(r'<span class="pasted-text">([^<]*)</span>', article)
            if not re.search(r"[^\W\d_]{2}", v)
        ),
    }


@pytest.mark.parametrize("page", CHINESE)
def test_a_chinese_page_has_its_english_pages_figures_code_and_numbers(page):
    source = (HTML / page).read_text(encoding="utf-8")
    if "<article" not in source:  # a redirect, as in the English site
        assert source == (HTML / page.removeprefix(ZH)).read_text(encoding="utf-8")
        return
    english = _content((HTML / page.removeprefix(ZH)).read_text(encoding="utf-8"))
    chinese = _content(source)
    for what in english:
        assert chinese[what] == english[what], (
            f"{page}: its {what} differ from the English page's"
        )
    assert re.search("[\u4e00-\u9fff]", source)
    # Sentences the library writes (verdicts, goals) are pasted in the page's language.
    pasted = re.findall(r'<span class="pasted-text">([^<]*)</span>', source)
    english = [
        v for v in pasted if re.search(r" points\b| seeds\b| within the noise", v)
    ]
    assert not english, (
        f"{page}: English sentences pasted into the Chinese page: {english[:2]}"
    )


GLYPHS = "迁移学习预训练模型微调数据增强交叉熵"


def test_chinese_text_is_drawn_with_real_glyphs(site, tmp_path):
    """Each character in its own cell: with no CJK font they would all be the same box (or nothing)."""
    cells = "".join(f'<div class="c">{ch}</div>' for ch in GLYPHS)
    page = tmp_path / "glyphs.html"
    page.write_text(
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><style>body{margin:0;background:#fff}'
        ".c{float:left;width:64px;height:64px;font:48px/64px sans-serif;text-align:center;color:#000}"
        f"</style><body>{cells}</body></html>",
        encoding="utf-8",
    )
    shot = SHOTS / "zh_CN__glyphs.png"
    chromium(
        f"--screenshot={shot}", f"--window-size={64 * len(GLYPHS)},64", page.as_uri()
    )
    image = Image.open(shot).convert("L")
    crops = [
        image.crop((64 * i, 0, 64 * i + 64, 64)).tobytes() for i in range(len(GLYPHS))
    ]
    inked = [sum(255 - b for b in c) for c in crops]
    assert min(inked) > 64 * 255, "a character was drawn as nothing"
    assert len(set(crops)) == len(GLYPHS), (
        "characters were drawn as identical boxes: no CJK font (Debian: fonts-noto-cjk)"
    )
