"""Serve a built copy of the book on localhost, offline, and drive headless Chromium over it.

Shared by the browser test (``tests/browser``) and the PDF build
(``tools/print_pdf.py``). The book's pages load MathJax 3 from a CDN; offline
(CI, this machine) the copy gets Debian's MathJax 2 (``libjs-mathjax``)
instead, served under ``/_mathjax/``, so equations are typeset.

    with serve(Path("_build/html")) as url:
        chromium("--dump-dom", f"{url}/book/intro.html")
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

MATHJAX = Path("/usr/share/javascript/mathjax")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CDN_MATHJAX = re.compile(
    r'<script[^>]*src="https://cdn\.jsdelivr\.net/npm/mathjax@3[^"]*"[^>]*></script>'
)
LOCAL_MATHJAX = (
    '<script src="/_mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML"></script>'
)
# myst-nb marks notebook sections tex2jax_ignore and re-includes math with MathJax 3's processHtmlClass;
# MathJax 2 spells that option tex2jax.processClass.
MATHJAX3_CONFIG = re.compile(r"<script>window\.MathJax = (\{.*?\})</script>")


def missing() -> list[str]:
    """What this machine lacks to open the book in Chromium (empty: nothing)."""
    return [
        why
        for lacks, why in (
            (CHROMIUM is None, "needs Debian's chromium (apt-get install chromium)"),
            (
                not (MATHJAX / "MathJax.js").exists(),
                "needs libjs-mathjax (apt-get install libjs-mathjax)",
            ),
        )
        if lacks
    ]


def _mathjax2_config(match: re.Match) -> str:
    v3 = json.loads(match.group(1))
    classes = v3.get("options", {}).get("processHtmlClass", "tex2jax_process")
    v2 = {
        "tex2jax": {
            "processClass": classes,
            "ignoreClass": "tex2jax_ignore|mathjax_ignore",
        }
    }
    return f"<script>window.MathJax = {json.dumps(v2)}</script>"


def localize(root: Path) -> None:
    """Rewrite every page under ``root`` to load the local MathJax 2 instead of the CDN's MathJax 3."""
    for page in root.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        text = MATHJAX3_CONFIG.sub(_mathjax2_config, text)
        page.write_text(CDN_MATHJAX.sub(LOCAL_MATHJAX, text), encoding="utf-8")


class _Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        if path.startswith("/_mathjax/"):
            return str(MATHJAX / path.split("?")[0][len("/_mathjax/") :])
        return super().translate_path(path)

    def log_message(self, *args) -> None:  # quiet
        pass


@contextlib.contextmanager
def serve(built: Path, *, copy_to: Path | None = None) -> Iterator[str]:
    """A localized copy of the built site ``built``, served on a free localhost port; yields its URL."""
    with contextlib.ExitStack() as stack:
        root = copy_to or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="tlbook-site-"))
        )
        shutil.copytree(built, root, dirs_exist_ok=True)
        localize(root)
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium with ``args``; scripts get 20 s of virtual time to finish (MathJax)."""
    if CHROMIUM is None:
        raise RuntimeError(missing()[0])
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=20000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
