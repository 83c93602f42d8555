"""The rendered book in a real browser: every page loads, figures load, equations are typeset.

Run after ``make book`` (``make browser-test`` does both): the built site is
copied, the CDN MathJax 3 script is replaced by Debian's MathJax 2
(``libjs-mathjax``, served locally, since the test machine has no internet),
the copy is served on localhost, and every page is opened in headless
Chromium (Debian's ``chromium``). For each page:

* no JavaScript error reaches the console (messages from scripts that only
  exist on a CDN, such as the widget manager, are expected offline and ignored);
* every ``<img>`` is served (HTTP 200) and decodes as an image;
* where the page has math, MathJax has typeset it (rendered MathJax elements
  in the DOM after the scripts ran);
* pages with widgets also show their static fallback figure;
* figures are numbered, and the bibliography lists every entry of references.bib;
* a screenshot is saved to ``_build/screenshots/`` (look at them).
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.request import urlopen

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
MATHJAX = Path("/usr/share/javascript/mathjax")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CDN_MATHJAX = re.compile(r'<script[^>]*src="https://cdn\.jsdelivr\.net/npm/mathjax@3[^"]*"[^>]*></script>')
LOCAL_MATHJAX = '<script src="/_mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML"></script>'
# myst-nb marks notebook sections tex2jax_ignore and re-includes math with MathJax 3's processHtmlClass;
# MathJax 2 spells that option tex2jax.processClass.
MATHJAX3_CONFIG = re.compile(r'<script>window\.MathJax = (\{.*?\})</script>')


def mathjax2_config(match: re.Match) -> str:
    v3 = json.loads(match.group(1))
    classes = v3.get("options", {}).get("processHtmlClass", "tex2jax_process")
    v2 = {"tex2jax": {"processClass": classes, "ignoreClass": "tex2jax_ignore|mathjax_ignore"}}
    return f"<script>window.MathJax = {json.dumps(v2)}</script>"
# Console noise that is expected offline: scripts that only exist on a CDN.
OFFLINE_NOISE = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "net::ERR_", "require.js", "Failed to load resource")

_MISSING = [why for missing, why in (
    (not (HTML / "index.html").exists(), "build the book first: make book"),
    (CHROMIUM is None, "needs Debian's chromium (apt-get install chromium)"),
    (not (MATHJAX / "MathJax.js").exists(), "needs libjs-mathjax (apt-get install libjs-mathjax)"),
) if missing]
if _MISSING and os.environ.get("TLBOOK_REQUIRE_BROWSER") == "1":  # CI: never skip silently
    raise RuntimeError("the browser test cannot run: " + "; ".join(_MISSING))
pytestmark = pytest.mark.skipif(bool(_MISSING), reason="; ".join(_MISSING))

PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
               if not p.relative_to(HTML).as_posix().startswith(("_", "genindex", "search")))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        if path.startswith("/_mathjax/"):
            return str(MATHJAX / path.split("?")[0][len("/_mathjax/"):])
        return super().translate_path(path)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built book with local MathJax, served on a free localhost port."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(HTML, root, dirs_exist_ok=True)
    for page in root.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        text = MATHJAX3_CONFIG.sub(mathjax2_config, text)
        page.write_text(CDN_MATHJAX.sub(LOCAL_MATHJAX, text), encoding="utf-8")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def chromium(*args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_there_are_pages():
    assert "index.html" in PAGES and any(p.startswith("book/0") for p in PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(site, page):
    url = f"{site}/{page}"
    run = chromium("--dump-dom", url)
    dom = run.stdout
    assert "</html>" in dom, f"{page}: no DOM dumped ({run.stderr[-500:]})"
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    errors = [line for line in console if ("Uncaught" in line or ":ERROR:" in line or "Error" in line)
              and not any(noise in line for noise in OFFLINE_NOISE)]
    assert not errors, f"{page}: JavaScript errors: {errors[:5]}"

    for src in sorted(set(re.findall(r'<img[^>]+src="([^"]+)"', dom))):
        if src.startswith(("http://", "https://", "data:")) and not src.startswith(site):
            continue
        target = src if src.startswith("http") else f"{site}/{(Path(page).parent / src).as_posix()}"
        with urlopen(target) as response:
            assert response.status == 200, f"{page}: {src} not served"
            Image.open(io.BytesIO(response.read())).verify()  # raises if not a decodable image

    source = (HTML / page).read_text(encoding="utf-8")
    if 'class="math' in source:
        math = len(re.findall(r'class="math notranslate', source))
        typeset = len(re.findall(r'<script type="math/tex[^"]*" id="MathJax-Element-', dom))
        assert typeset >= math, f"{page}: MathJax typeset {typeset} of the page's {math} equations"
        assert not re.search(r'class="(MathJax_Error|merror|MJXc-merror)"', dom), f"{page}: a TeX error in an equation"
    if "widget-view+json" in source:
        assert 'id="fig-explorer-static"' in dom, f"{page}: has a widget but not its static fallback figure"

    if "<figure" in source:
        assert re.search(r'<span class="caption-number">Fig\. \d+ </span>', dom), f"{page}: figures are not numbered"

    shot = SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")
    chromium(f"--screenshot={shot}", "--window-size=1280,2400", url)
    assert shot.exists() and Image.open(shot).size == (1280, 2400), f"{page}: no screenshot"


def test_bibliography_lists_every_entry(site):
    entries = len(re.findall(r"^@\w+\{", (ROOT / "references.bib").read_text(), flags=re.M))
    dom = chromium("--dump-dom", f"{site}/book/references.html").stdout
    listed = dom.count('role="doc-biblioentry"')
    assert listed == entries, f"the references page lists {listed} of the {entries} entries in references.bib (cite each)"
