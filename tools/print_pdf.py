"""Print the whole book to one PDF with headless Chromium (no LaTeX): ``make pdf``.

    python tools/print_pdf.py [--site _build/singlehtml] [--out _build/pdf/tlbook.pdf]

``make pdf`` first builds the single-page HTML version of the book
(``jupyter-book build . --builder singlehtml``: every chapter, with its
executed outputs and figures, on one page); this script serves it offline
with local MathJax (``tools/local_site.py``), lets Chromium typeset the
equations, and prints the page to A4. The PDF is written atomically: a
failed print leaves no half-written file. ``tests/browser/test_pdf.py``
checks that it holds every chapter and its figures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from local_site import chromium, missing, serve

from tlbook.files import atomic_path

ROOT = Path(__file__).resolve().parents[1]
# On paper: no navigation, search, buttons or "show code" toggles; figures never split across pages.
PRINT_CSS = """<style>@media print {
  .bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .header-article, .skip-link, #pst-back-to-top,
  .prev-next-area, .bd-footer, .bd-footer-article, .bd-footer-content, .search-button, .headerlink,
  .toggle-details__summary, details.hide > summary .collapsed, .dropdown-download-buttons { display: none !important; }
  .bd-main .bd-content .bd-article-container { max-width: 100% !important; }
  figure, img, table { break-inside: avoid; }
}</style>"""


def print_pdf(site: Path, out: Path) -> Path:
    """Print the single-page book in ``site`` to ``out``; returns ``out``."""
    page = site / "book" / "intro.html"
    if not page.exists():
        raise SystemExit(
            f"{page} not found: build the single-page book first "
            "(jupyter-book build . --builder singlehtml, or make pdf)"
        )
    if missing():
        raise SystemExit("cannot print the book: " + "; ".join(missing()))
    with (
        atomic_path(out) as partial,
        tempfile.TemporaryDirectory(prefix="tlbook-pdf-") as tmp,
    ):
        copy = Path(tmp)
        shutil.copytree(site, copy, dirs_exist_ok=True)
        # jupyter-book's single page lives in book/ but links its figures as _images/...: give it a copy there.
        shutil.copytree(copy / "_images", copy / "book" / "_images", dirs_exist_ok=True)
        intro = copy / "book" / "intro.html"
        intro.write_text(
            intro.read_text(encoding="utf-8").replace(
                "</head>", PRINT_CSS + "</head>", 1
            ),
            encoding="utf-8",
        )
        with serve(copy) as url:
            run = chromium(
                f"--print-to-pdf={partial}",
                "--no-pdf-header-footer",
                f"{url}/book/intro.html",
                timeout=600,
            )
        if run.returncode or not partial.exists() or partial.stat().st_size == 0:
            raise SystemExit(
                f"Chromium did not print {page} (exit {run.returncode}): {run.stderr[-800:]}"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "singlehtml")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "_build" / "pdf" / "tlbook.pdf"
    )
    args = parser.parse_args(argv)
    out = print_pdf(args.site, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
