"""Sphinx extension for the book: drop duplicate <script> entries from each page.

sphinx-thebe 0.3.1 registers its inline configuration script (``const
THEBE_JS_URL = ...``) once per reading phase; Jupyter Book's notebook pages
end up with it twice, and the second copy is a JavaScript SyntaxError
("Identifier 'THEBE_JS_URL' has already been declared"), which the browser
test (tests/browser) would report. Loaded through ``sphinx.local_extensions``
in ``_config.yml``.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # The same file or inline body twice, whatever priority each copy was registered with; an
        # inline script's filename is None or "" depending on who registered it.
        key = (
            getattr(js, "filename", str(js)) or None,
            tuple(sorted(getattr(js, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app):
    # After every other extension has added its scripts for the page.
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
