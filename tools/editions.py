"""The Chinese edition (简体中文) built from the English source with Sphinx's gettext catalogues.

    python tools/editions.py update       # after changing English text: refresh locale/zh_CN/LC_MESSAGES/*.po
    python tools/editions.py html         # _build/html/zh_CN/ (make book runs it after the English build)
    python tools/editions.py singlehtml   # _build/zh_CN/singlehtml/, the one page make pdf prints
    python tools/editions.py check        # every message translated, none fuzzy or obsolete (exit 1 if not)

English is the only source of chapters and pages. The messages (paragraphs,
headings, captions, figures' alt texts, table cells with words) are extracted
by Sphinx's gettext builder; their translations live in ``locale/zh_CN/
LC_MESSAGES/<page>.po`` (one catalogue per page, ``gettext_compact = False``),
kept with ``sphinx-intl``. Code, outputs and glued numbers are not messages:
both editions render the same executed notebooks.

Why a generated Sphinx configuration: Jupyter Book 1.x's ``build`` cannot
pass ``-D language=...``, but ``jupyter-book config sphinx`` writes the
configuration it builds with from ``_config.yml`` and ``_toc.yml``. This
script writes that file to ``_build/sphinx/<language>/conf.py`` on every
build and appends only what an edition adds (its language, where its
catalogues are); ``_config.yml`` stays the one configuration, and no
committed ``conf.py`` can drift from it.

Why ``_build/zh_CN/`` first: myst-nb writes notebook outputs beside the
output folder (``<outdir>/../jupyter_execute``), so the Chinese site is built
in a folder of its own and then copied to ``_build/html/zh_CN/``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
LOCALE = ROOT / "locale"
LANGUAGE = "zh_CN"
BIN = Path(sys.executable).parent
# The book's title and the theme's search label in the edition's language (the rest of the theme's
# labels come from Sphinx's and the theme's own zh_CN catalogues).
TITLES = {LANGUAGE: "图像分类中的迁移学习"}
SEARCH = {LANGUAGE: "搜索本书……"}
# myst-nb's toggle of a folded code cell ("Show code cell source"; myst-nb has no catalogues).
CODE_PROMPTS = {LANGUAGE: ("展开代码单元格", "收起代码单元格")}
# myst-nb chooses a notebook output's format per builder and knows none for gettext: without these
# priorities (its HTML ones) the figures, and so their alt texts, would not reach the catalogues.
HTML_MIME_PRIORITY = (
    ("application/vnd.jupyter.widget-view+json", 10),
    ("application/javascript", 20),
    ("text/html", 30),
    ("image/svg+xml", 40),
    ("image/png", 50),
    ("image/gif", 60),
    ("image/jpeg", 70),
    ("text/markdown", 80),
    ("text/latex", 90),
    ("text/plain", 100),
)


def write_conf(language: str, *, root: Path = ROOT, out: Path | None = None) -> Path:
    """Write the book's Sphinx configuration for ``language`` ("en" for the source); returns its folder."""
    folder = out or BUILD / "sphinx" / language
    folder.mkdir(parents=True, exist_ok=True)
    # jupyter-book reads the two files from the folder it writes to (the toc must lie inside it).
    for name in ("_config.yml", "_toc.yml"):
        shutil.copyfile(root / name, folder / name)
    subprocess.run(
        [str(BIN / "jupyter-book"), "config", "sphinx", str(folder)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    conf = folder / "conf.py"
    extra = f"""
# Added by tools/editions.py: the edition, and paths that Sphinx reads relative to this folder.
project = html_title
import sys
sys.path.insert(0, {str(root / "_ext")!r})
language = {language!r}
locale_dirs = [{str(root / "locale")!r}]
gettext_compact = False  # one catalogue per page
gettext_location = False  # no source line numbers: moving a paragraph changes no catalogue
gettext_uuid = False
bibtex_bibfiles = [{str(root / "references.bib")!r}]
nb_mime_priority_overrides = [("gettext", mime, p) for mime, p in {HTML_MIME_PRIORITY!r}]
"""
    if language in TITLES:
        extra += f"html_title = {TITLES[language]!r}\n"
        extra += f"html_theme_options['search_bar_text'] = {SEARCH[language]!r}\n"
        show, hide = CODE_PROMPTS[language]
        extra += f"nb_code_prompt_show = {show!r}\nnb_code_prompt_hide = {hide!r}\n"
    conf.write_text(conf.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return folder


def sphinx(
    builder: str, language: str, out: Path, *, root: Path = ROOT, strict: bool = True
) -> None:
    """``sphinx-build`` of the book in ``root`` for one edition; raises if it fails (warnings fail when strict)."""
    conf = write_conf(language, root=root, out=out.parent / f"conf-{builder}")
    cmd = [
        str(BIN / "sphinx-build"),
        "-q",
        "-E",  # a fresh environment: the extensions' transforms run on every page, every time
        "-b",
        builder,
        "-c",
        str(conf),
        "-d",
        str(out.parent / f".doctrees-{builder}"),
        str(root),
        str(out),
    ]
    if strict:
        cmd[2:2] = ["-W", "-n", "--keep-going"]
    subprocess.run(cmd, check=True)


def extract(*, root: Path = ROOT, out: Path | None = None) -> Path:
    """Every message of the English book as gettext templates (``.pot``, one per page); returns their folder."""
    out = out or BUILD / "gettext" / "pot"
    shutil.rmtree(out, ignore_errors=True)
    sphinx("gettext", "en", out, root=root, strict=False)
    return out


def update() -> None:
    """Refresh the catalogues from the English text: new messages untranslated, changed ones fuzzy.

    A changed message keeps its old translation as a fuzzy draft, unless only its numbers changed
    (then the translation is carried over with the new numbers); the old entry itself, and every
    catalogue of a page that is gone, is removed. Prints what is left to translate.
    """
    from catalogues import problems, tidy, translations

    po_dir = LOCALE / LANGUAGE / "LC_MESSAGES"
    before = translations(po_dir) if po_dir.exists() else {}
    pot = extract()
    subprocess.run(
        [
            str(BIN / "sphinx-intl"),
            "update",
            "-p",
            str(pot),
            "-d",
            str(LOCALE),
            "-l",
            LANGUAGE,
            "-w",
            "0",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tidy(pot, po_dir, before=before)
    for line in problems(pot, po_dir):
        print(line)


def html() -> Path:
    """The Chinese site, strict, at _build/html/zh_CN/ (after the English build, which clears _build/html)."""
    out = BUILD / LANGUAGE / "html"
    shutil.rmtree(out, ignore_errors=True)
    sphinx("html", LANGUAGE, out)
    site = BUILD / "html" / LANGUAGE
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(out, site)
    return site


def singlehtml() -> Path:
    """The Chinese book on one page, for tools/print_pdf.py."""
    out = BUILD / LANGUAGE / "singlehtml"
    shutil.rmtree(out, ignore_errors=True)
    sphinx("singlehtml", LANGUAGE, out, strict=False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["update", "html", "singlehtml", "check"])
    args = parser.parse_args(argv)
    if args.what == "update":
        update()
    elif args.what == "html":
        print(f"Chinese edition: {html().relative_to(ROOT)}/book/intro.html")
    elif args.what == "singlehtml":
        singlehtml()
    else:
        from catalogues import problems

        found = problems(extract(), LOCALE / LANGUAGE / "LC_MESSAGES")
        for line in found:
            print(line)
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main())
