"""Is a translation complete and current? The check behind ``tools/editions.py check`` and the tests.

A catalogue (``locale/<lang>/LC_MESSAGES/<page>.po``) is current when every
message that Sphinx extracts from the English page today (``<page>.pot``) has
a translation that is not fuzzy, and the catalogue holds nothing else (no
obsolete entry, no catalogue of a page that no longer exists). Changing an
English paragraph changes its message, so the old translation no longer
matches anything: the check names the page and the message until someone
translates it again (``python tools/editions.py update`` marks it fuzzy with
the old translation as a draft).

A translation must also carry the message's markup unchanged: the same glued
values, code, maths, references and links (:func:`markup`), so that no
number, name or link can differ between the editions.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import polib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))
from bilingual import MARKUP  # noqa: E402 - _ext is not a package


def markup(text: str) -> Counter[str]:
    """The pieces of ``text`` that a translation must keep as they are, counted.

    >>> sorted(markup("It reaches {glue:text}`acc:.1f` % with `fit`, see [here](scaling.md) and $x^2$."))
    ['$x^2$', '](scaling.md)', '`fit`', '{glue:text}`acc:.1f`']
    """
    return Counter(m.group(0) for m in MARKUP.finditer(text))


def entry_problem(entry: polib.POEntry) -> str | None:
    """Why ``entry`` is not a finished translation, or None.

    >>> entry_problem(polib.POEntry(msgid="See `fit`.", msgstr="见 `fit`。"))
    >>> entry_problem(polib.POEntry(msgid="See `fit`.", msgstr="见 fit。"))
    'its markup differs: missing `fit`'
    """
    if entry.obsolete:
        return "obsolete"
    if "fuzzy" in entry.flags:
        return "fuzzy (the English changed: check the draft translation)"
    if not entry.msgstr.strip():
        return "untranslated"
    want, got = markup(entry.msgid), markup(entry.msgstr)
    if want != got:
        missing = ", ".join(sorted((want - got).elements()))
        extra = ", ".join(sorted((got - want).elements()))
        return "its markup differs: " + "; ".join(
            part
            for part in (
                f"missing {missing}" if missing else "",
                f"added {extra}" if extra else "",
            )
            if part
        )
    return None


def problems(pot_dir: Path, po_dir: Path) -> list[str]:
    """Every reason the catalogues in ``po_dir`` do not translate the messages in ``pot_dir``, one line each.

    An empty list means: complete and current.
    """
    found: list[str] = []
    pots = {
        p.relative_to(pot_dir).with_suffix(""): p
        for p in sorted(pot_dir.rglob("*.pot"))
    }
    pos = {
        p.relative_to(po_dir).with_suffix(""): p for p in sorted(po_dir.rglob("*.po"))
    }
    for page in sorted(set(pos) - set(pots)):
        found.append(f"{pos[page]}: obsolete catalogue (no English page {page})")
    for page, pot_path in pots.items():
        wanted = [e.msgid for e in polib.pofile(str(pot_path)) if e.msgid]
        if page not in pos:
            if wanted:
                found.append(
                    f"{po_dir / page}.po: missing ({len(wanted)} messages untranslated)"
                )
            continue
        po = polib.pofile(str(pos[page]))
        entries = {e.msgid: e for e in po if not e.obsolete}
        for msgid in wanted:
            entry = entries.get(msgid)
            why = "untranslated" if entry is None else entry_problem(entry)
            if why:
                found.append(f"{pos[page]}: {why}: {_short(msgid)}")
        for entry in po:
            if entry.obsolete or entry.msgid not in set(wanted):
                found.append(
                    f"{pos[page]}: obsolete (no longer in the English page): {_short(entry.msgid)}"
                )
    return found


def _short(msgid: str, width: int = 90) -> str:
    return repr(msgid if len(msgid) <= width else msgid[: width - 1] + "…")


# A number as the book writes it (the sign and thousands separators are text around it).
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def carry_numbers(msgid: str, old_msgid: str, old_msgstr: str) -> str | None:
    """The translation of ``old_msgid`` carried over to ``msgid`` if only numbers changed, else None.

    Generated text (a table's cell, a re-measured runtime) changes its numbers and keeps its words:
    each number of the old message is replaced, in the translation, by the number at the same place
    in the new one. Nothing is carried when the words changed, when one old number would become two
    different ones, or when the translation holds a number the English did not (a converted unit):
    a person must look at those.

    >>> carry_numbers("about 84 minutes (7 runs)", "about 47 minutes (4 runs)", "约 47 分钟（4 次运行）")
    '约 84 分钟（7 次运行）'
    >>> carry_numbers("about 2 hours", "about 47 minutes", "约 47 分钟") is None
    True
    """
    if NUMBER.sub("#", msgid) != NUMBER.sub("#", old_msgid):
        return None
    mapping: dict[str, str] = {}
    for old, new in zip(NUMBER.findall(old_msgid), NUMBER.findall(msgid), strict=True):
        if mapping.setdefault(old, new) != new:
            return None
    if any(n not in mapping for n in NUMBER.findall(old_msgstr)):
        return None
    return NUMBER.sub(lambda m: mapping[m.group(0)], old_msgstr)


def translations(po_dir: Path) -> dict[Path, dict[str, str]]:
    """Every finished translation in the catalogues of ``po_dir``: {catalogue: {msgid: msgstr}}."""
    return {
        path.relative_to(po_dir): {
            e.msgid: e.msgstr
            for e in polib.pofile(str(path))
            if entry_problem(e) is None
        }
        for path in sorted(po_dir.rglob("*.po"))
    }


def tidy(
    pot_dir: Path, po_dir: Path, *, before: dict[Path, dict[str, str]] | None = None
) -> None:
    """Remove from the catalogues in ``po_dir`` what the messages in ``pot_dir`` no longer hold; drop false flags.

    ``sphinx-intl update`` keeps the entry of a message that changed or went as obsolete (``#~``); its
    fuzzy successor already holds the old translation as a draft, so the entry only hides stale text.
    Babel flags a message with a ``%`` in it as ``python-format``, and ``msgfmt --check`` then demands
    the translation keep it as a format directive; no book message is ever formatted, so the flag goes.
    A message whose numbers alone changed gets its translation from ``before`` (the catalogues'
    :func:`translations` before the update) with the new numbers (:func:`carry_numbers`).
    """
    pots = {p.relative_to(pot_dir).with_suffix("") for p in pot_dir.rglob("*.pot")}
    for path in sorted(po_dir.rglob("*.po")):
        if path.relative_to(po_dir).with_suffix("") not in pots:
            path.unlink()
            continue
        po = polib.pofile(str(path), wrapwidth=0)
        for entry in [e for e in po if e.obsolete]:
            po.remove(entry)
        for entry in po:
            if "python-format" in entry.flags:
                entry.flags.remove("python-format")
        old = (before or {}).get(path.relative_to(po_dir), {})
        for entry in po:
            if entry_problem(entry) in (None, "obsolete"):
                continue
            for old_msgid, old_msgstr in old.items():
                carried = carry_numbers(entry.msgid, old_msgid, old_msgstr)
                if carried is not None:
                    entry.msgstr = carried
                    if "fuzzy" in entry.flags:
                        entry.flags.remove("fuzzy")
                    entry.previous_msgid = None
                    break
        po.metadata["Last-Translator"] = "The tlbook authors"
        po.metadata["Language-Team"] = "zh_CN"
        po.metadata.pop("PO-Revision-Date", None)
        po.metadata.pop(
            "POT-Creation-Date", None
        )  # changes on every extraction, says nothing
        po.save()
