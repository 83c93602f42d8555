"""Sphinx extension for the book: a chapter's ".ipynb" download button downloads the notebook.

sphinx-book-theme's download menu links the page's source,
``_sources/book/NN_name.ipynb``, with ``target="_blank"``: the browser opens
the notebook's JSON as text in a new tab instead of saving a file that
Jupyter opens. After the build this extension gives each such link the
``download`` attribute with the notebook's file name (and drops the new
tab), so clicking it saves ``NN_name.ipynb``. Loaded through
``sphinx.local_extensions`` in ``_config.yml``; ``tests/browser`` checks it.
"""

from __future__ import annotations

import re
from pathlib import Path

# The theme's link to a notebook source: href="../_sources/book/04_finetuning.ipynb" target="_blank"
LINK = re.compile(
    r'href="(?P<href>[^"]*_sources/[^"]*?(?P<name>[^"/]+\.ipynb))"\s+target="_blank"'
)


def add_download(html: str) -> str:
    """``html`` with every notebook-source link turned into a download of that notebook.

    >>> add_download('<a href="../_sources/book/04_x.ipynb" target="_blank" class="btn">')
    '<a href="../_sources/book/04_x.ipynb" download="04_x.ipynb" class="btn">'
    """
    return LINK.sub(lambda m: f'href="{m["href"]}" download="{m["name"]}"', html)


def _rewrite(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = add_download(text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _rewrite)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
