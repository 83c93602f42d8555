"""Each chapter's opening box quotes its notebook's own record of how long it ran, in the page's language.

``tools/build_notebooks.py`` records, when it executes a chapter, the wall
time of that fresh-kernel run in the notebook's metadata
(``tlbook.execution``) and writes :func:`runtime_text` between the markers
``<!-- runtime -->`` and ``<!-- /runtime -->`` of the opening box, so a
reader of the bare notebook (Colab, Jupyter) sees it.

For the book this Sphinx extension (``_config.yml``'s ``local_extensions``)
makes that sentence's translation independent of the time: before Sphinx
reads messages for translation it empties the markers (a re-timed chapter
changes no message of the catalogue, ``locale/``), and after translation it
fills them again from the record, in the edition's language. Both editions
therefore quote one record; neither can show another time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from docutils import nodes
from sphinx.transforms import SphinxTransform

RUNTIME = re.compile(r"(<!-- runtime -->)(.*?)(<!-- /runtime -->)", re.S)
OPEN, CLOSE = "<!-- runtime -->", "<!-- /runtime -->"
# Other processes' CPU time during a timed run, as a share of its wall time, above which the time is
# not the notebook's alone (a tenth of one core: more than the background of an idle machine): such a
# run is quoted as an upper bound.
BUSY_SHARE = 0.1


def busy(execution: dict) -> bool:
    """Whether other processes used more than BUSY_SHARE of a core during the run (unknown: not busy).

    >>> busy({"seconds": 100.0, "other_cpu_seconds": 40.0}), busy({"seconds": 100.0, "other_cpu_seconds": None})
    (True, False)
    """
    other = execution.get("other_cpu_seconds")
    return other is not None and other > BUSY_SHARE * execution["seconds"]


def duration(seconds: float, language: str = "en") -> str:
    """A wall time as a reader plans with it: "under 1 minute", "about 3 minutes", "about 2.5 hours".

    >>> duration(170), duration(170, "zh_CN"), duration(9000, "zh_CN")
    ('about 3 minutes', '约 3 分钟', '约 2.5 小时')
    """
    zh = language == "zh_CN"
    if seconds < 60:
        return "不到 1 分钟" if zh else "under 1 minute"
    if seconds >= 2 * 3600:
        return (
            f"约 {seconds / 3600:.1f} 小时"
            if zh
            else f"about {seconds / 3600:.1f} hours"
        )
    n = round(seconds / 60)
    return f"约 {n} 分钟" if zh else f"about {n} minute{'s' if n != 1 else ''}"


def runtime_text(execution: dict | None, language: str = "en") -> str:
    """The opening box's runtime, from the notebook's own record of its execution (MyST markup).

    >>> record = {"seconds": 170.0, "preset": "cpu", "machine": "M", "date": "2026-12-03",
    ...           "other_cpu_seconds": 1.0}
    >>> runtime_text(record)
    'about 3 minutes (170 s in the `cpu` preset, a fresh kernel, measured on M, 2026-12-03)'
    >>> runtime_text(record, "zh_CN")
    '约 3 分钟（`cpu` 预设，全新内核，170 秒；测量于 M，2026-12-03）'
    """
    zh = language == "zh_CN"
    if not execution:
        return (
            "尚未计时（运行 make timings）"
            if zh
            else "not yet timed (run make timings)"
        )
    seconds, preset = execution["seconds"], execution["preset"]
    when = f"{execution['machine']}，{execution['date']}" if zh else ""
    if zh:
        note = (
            f"；其间其他进程占用了 {execution['other_cpu_seconds']:.0f} CPU 秒，因此这是上限"
            if busy(execution)
            else ""
        )
        return f"{duration(seconds, language)}（`{preset}` 预设，全新内核，{seconds:.0f} 秒；测量于 {when}{note}）"
    note = (
        f"; other processes used {execution['other_cpu_seconds']:.0f} CPU seconds meanwhile, "
        "so it is an upper bound"
        if busy(execution)
        else ""
    )
    return (
        f"{duration(seconds)} ({seconds:.0f} s in the `{preset}` "
        f"preset, a fresh kernel, measured on {execution['machine']}, {execution['date']}{note})"
    )


def _inline(markup: str) -> list[nodes.Node]:
    """``markup`` with its `code` spans as literal nodes (the only markup :func:`runtime_text` writes)."""
    parts = markup.split("`")
    return [
        nodes.literal(p, p) if i % 2 else nodes.Text(p)
        for i, p in enumerate(parts)
        if p
    ]


def _is_marker(node: nodes.Node, marker: str) -> bool:
    return isinstance(node, nodes.raw) and node.astext().strip() == marker


class EmptyRuntime(SphinxTransform):
    """Before the messages are read for translation (Sphinx's Locale transform, priority 20): empty the markers."""

    default_priority = 10

    def apply(self, **kwargs) -> None:
        for par in self.document.findall(nodes.paragraph):
            if OPEN not in par.rawsource:
                continue
            par.rawsource = RUNTIME.sub(r"\1\3", par.rawsource)
            inside = False
            for child in list(par.children):
                if _is_marker(child, CLOSE):
                    inside = False
                if inside:
                    par.remove(child)
                if _is_marker(child, OPEN):
                    inside = True


class FillRuntime(SphinxTransform):
    """After translation: the record's runtime, in the edition's language, between the markers."""

    default_priority = 25

    def apply(self, **kwargs) -> None:
        source = Path(self.env.doc2path(self.env.docname))
        if source.suffix != ".ipynb":
            return
        execution = (
            json.loads(source.read_text(encoding="utf-8"))["metadata"]
            .get("tlbook", {})
            .get("execution")
        )
        language = self.config.language or "en"
        for marker in list(self.document.findall(lambda n: _is_marker(n, OPEN))):
            parent = marker.parent
            at = parent.index(marker) + 1
            for i, node in enumerate(_inline(runtime_text(execution, language))):
                parent.insert(at + i, node)


def setup(app):
    app.add_transform(EmptyRuntime)
    app.add_transform(FillRuntime)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
