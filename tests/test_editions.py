"""The Chinese edition's mechanisms: a stale or incomplete translation is found, markup is kept, each
edition quotes the same runtime record and links to the same page in the other."""

from __future__ import annotations

import posixpath
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "_ext")]

from bilingual import EDITIONS, edition_links  # noqa: E402
from catalogues import entry_problem, markup, problems  # noqa: E402
from runtime_box import runtime_text  # noqa: E402

WORDS = st.text(alphabet="abcdefghij klmnop,.()", min_size=1, max_size=20)
PIECES = st.sampled_from(
    [
        "{glue:text}`acc:.1f`",
        "{doc}`scaling`",
        "`fit`",
        "`TLBOOK_LANG=zh_CN`",
        "$x^2$",
        "$$I_{aug} = T(I)$$",
        "[the guide](https://keras.io/guides/transfer_learning/)",
        "<!-- runtime --><!-- /runtime -->",
        "{cite}`he2016deep`",
    ]
)


@given(st.lists(st.one_of(WORDS, PIECES), min_size=1, max_size=8), st.data())
def test_a_translation_must_keep_every_piece_of_markup(parts, data):
    english = " ".join(parts)
    kept = [p for p in parts if markup(p)]
    # A "translation" that rewrites every word and keeps the markup, in any order, is accepted.
    order = data.draw(st.permutations(kept))
    good = "译文 " + " 的 ".join(order) + "。"
    assert entry_problem(polib.POEntry(msgid=english, msgstr=good)) is None
    if kept:
        # Dropping, doubling or editing one piece is refused, and the piece is named.
        i = data.draw(st.integers(0, len(order) - 1))
        for bad in (
            order[:i] + order[i + 1 :],
            [*order, order[i]],
            order[:i] + [order[i][:-1] + "Z" + order[i][-1]] + order[i + 1 :],
        ):
            why = entry_problem(
                polib.POEntry(msgid=english, msgstr="译文 " + " ".join(bad))
            )
            assert why is not None and why.startswith("its markup differs")


def _catalogues(
    tmp: Path, english: dict[str, list[str]], translated: dict[str, dict[str, str]]
):
    pot_dir, po_dir = tmp / "pot", tmp / "po"
    for page, msgids in english.items():
        pot = polib.POFile()
        for m in msgids:
            pot.append(polib.POEntry(msgid=m, msgstr=""))
        (pot_dir / page).parent.mkdir(parents=True, exist_ok=True)
        pot.save(str(pot_dir / f"{page}.pot"))
    for page, table in translated.items():
        po = polib.POFile()
        for m, s in table.items():
            po.append(polib.POEntry(msgid=m, msgstr=s))
        (po_dir / page).parent.mkdir(parents=True, exist_ok=True)
        po.save(str(po_dir / f"{page}.po"))
    return pot_dir, po_dir


SENTENCES = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.", min_size=3, max_size=40)
    .map(str.strip)
    .filter(bool),
    min_size=1,
    max_size=6,
    unique=True,
)


@given(SENTENCES, st.data())
def test_changing_an_english_paragraph_makes_the_check_fail_until_it_is_translated(
    sentences, data
):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        done = {m: f"〔{m}〕" for m in sentences}
        pot, po = _catalogues(
            Path(tmp) / "a", {"book/page": sentences}, {"book/page": done}
        )
        assert problems(pot, po) == []
        # One paragraph of the English page changes: its old translation matches nothing any more.
        i = data.draw(st.integers(0, len(sentences) - 1))
        changed = [*sentences]
        changed[i] = sentences[i] + " Now longer."
        pot, po = _catalogues(
            Path(tmp) / "b", {"book/page": changed}, {"book/page": done}
        )
        found = problems(pot, po)
        assert any("untranslated" in f and "Now longer" in f for f in found)
        assert any("obsolete" in f for f in found)
        # Translated again: current.
        pot, po = _catalogues(
            Path(tmp) / "c",
            {"book/page": changed},
            {"book/page": {m: f"〔{m}〕" for m in changed}},
        )
        assert problems(pot, po) == []


def test_fuzzy_missing_and_orphaned_catalogues_are_problems(tmp_path):
    pot, po = _catalogues(
        tmp_path,
        {"book/a": ["One.", "Two."], "book/b": ["Three."]},
        {"book/a": {"One.": "一。", "Two.": ""}, "book/gone": {"Four.": "四。"}},
    )
    entry = polib.pofile(str(po / "book/a.po"))
    entry[0].flags.append("fuzzy")
    entry.save()
    found = "\n".join(problems(pot, po))
    assert "fuzzy" in found and "untranslated: 'Two.'" in found
    assert "b.po: missing (1 messages untranslated)" in found
    assert "gone.po: obsolete catalogue" in found


RECORDS = st.fixed_dictionaries(
    {
        "seconds": st.floats(1, 20000).map(lambda s: round(s, 1)),
        "preset": st.sampled_from(["cpu", "smoke", "full"]),
        "machine": st.sampled_from(
            ["AMD EPYC, x86_64, 2 cores", "Apple M2, arm64, 8 cores"]
        ),
        "date": st.dates().map(str),
        "other_cpu_seconds": st.one_of(
            st.none(), st.floats(0, 5000).map(lambda s: round(s, 1))
        ),
    }
)


@given(RECORDS)
def test_both_editions_quote_the_same_runtime_record(record):
    en, zh = runtime_text(record), runtime_text(record, "zh_CN")
    for fact in (
        f"{record['seconds']:.0f}",
        f"`{record['preset']}`",
        record["machine"],
        record["date"],
    ):
        assert fact in en and fact in zh
    assert ("upper bound" in en) == ("上限" in zh)
    assert (
        not any(c in zh for c in "()") and "（" in zh
    )  # full-width brackets in Chinese prose


@given(
    st.lists(
        st.sampled_from(["book", "a", "b_c", "intro"]), min_size=1, max_size=4
    ).map("/".join),
    st.sampled_from(sorted(EDITIONS)),
)
def test_each_page_links_to_the_same_page_in_every_edition(pagename, language):
    here = EDITIONS[language][1] + pagename + ".html"
    for lang, _, href, is_here in edition_links(pagename, language):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(here), href))
        assert target == EDITIONS[lang][1] + pagename + ".html"
        assert is_here == (lang == language)


CATALOGUES = sorted((ROOT / "locale").rglob("*.po"))


@pytest.mark.skipif(not CATALOGUES, reason="no catalogue yet")
@pytest.mark.parametrize(
    "po", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT / "locale"))
)
def test_each_catalogue_compiles_and_keeps_the_markup_of_what_it_translates(
    po, tmp_path
):
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt (Debian's gettext) checks the catalogues"
    proc = subprocess.run(
        [msgfmt, "--check", "-o", str(tmp_path / "out.mo"), str(po)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    bad = [
        (e.msgid[:60], why)
        for e in polib.pofile(str(po))
        if e.msgstr and (why := entry_problem(e)) and why.startswith("its markup")
    ]
    assert not bad


def _glossary() -> list[tuple[str, str]]:
    text = (ROOT / "locale" / "zh_CN" / "GLOSSARY.md").read_text(encoding="utf-8")
    checked = text.split("## Checked terms")[1].split("\n## ")[0]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in checked.splitlines()
        if line.startswith("|")
    ]
    return [(en, zh) for en, zh in rows[2:]]


@pytest.mark.skipif(not CATALOGUES, reason="no catalogue yet")
def test_the_translation_uses_the_glossarys_terms():
    import re

    from bilingual import MARKUP

    terms = _glossary()
    assert len(terms) > 20
    wrong = []
    for po in CATALOGUES:
        for e in polib.pofile(str(po)):
            if not e.msgstr or e.msgstr == e.msgid:
                continue  # untranslated (another test's finding) or a name kept as it is
            english = MARKUP.sub(" ", e.msgid).lower()
            wrong += [
                (po.stem, en, e.msgid[:70])
                for en, zh in terms
                if re.search(r"\b" + re.escape(en), english)
                and zh not in e.msgstr
                and en
                not in e.msgstr.lower()  # kept as a name, e.g. the strategy `discriminative`
            ]
    assert not wrong, "\n".join(map(str, wrong))


@pytest.mark.slow
def test_the_catalogues_translate_the_english_book_as_it_is_now(tmp_path):
    """Extract the messages again (Sphinx's gettext builder): every one translated, none fuzzy or obsolete."""
    import editions

    pot = editions.extract(out=tmp_path / "pot")
    found = problems(pot, ROOT / "locale" / "zh_CN" / "LC_MESSAGES")
    assert not found, "make translations, then translate:\n" + "\n".join(found[:30])


@pytest.mark.slow
def test_a_changed_english_paragraph_fails_the_check_until_translated(tmp_path):
    """The same check on a copy of the book in which one English paragraph of a page changed."""
    import editions

    book = tmp_path / "book-copy"
    book.mkdir()
    for name in ("_config.yml", "_toc.yml", "references.bib"):
        shutil.copy(ROOT / name, book / name)
    for folder in ("book", "_ext"):
        shutil.copytree(ROOT / folder, book / folder)
    intro = book / "book" / "intro.md"
    old = "The code lives in the small library"
    assert old in intro.read_text(encoding="utf-8")
    intro.write_text(
        intro.read_text(encoding="utf-8").replace(
            old, "All the code lives in the library `tlbook`"
        ),
        encoding="utf-8",
    )
    pot = editions.extract(root=book, out=tmp_path / "pot")
    found = problems(pot, ROOT / "locale" / "zh_CN" / "LC_MESSAGES")
    assert any(
        "intro.po: untranslated" in f and "The notebooks pick" in f for f in found
    ), found
    assert any("intro.po: obsolete" in f for f in found), found
    assert all("intro.po" in f for f in found), found


NUMBERS = st.lists(
    st.one_of(
        st.integers(0, 5000).map(str), st.floats(0, 100).map(lambda x: f"{x:.1f}")
    ),
    min_size=1,
    max_size=5,
)


@given(NUMBERS, st.data())
def test_a_message_whose_numbers_alone_changed_keeps_its_translation(old_numbers, data):
    from catalogues import carry_numbers

    words = data.draw(
        st.lists(
            st.sampled_from(["runs", "points", "seconds", "of", "in"]),
            min_size=len(old_numbers),
            max_size=len(old_numbers),
        )
    )
    english = lambda ns: " ".join(f"{n} {w}" for n, w in zip(ns, words, strict=True))  # noqa: E731
    # The translation says the numbers in another order, with other words around them.
    order = data.draw(st.permutations(range(len(old_numbers))))
    chinese = lambda ns: "，".join(f"第{ns[i]}项" for i in order) + "。"  # noqa: E731
    new_numbers = data.draw(
        st.lists(
            st.integers(0, 9999).map(str),
            min_size=len(old_numbers),
            max_size=len(old_numbers),
        )
    )
    consistent = all(
        len(
            {new for old, new in zip(old_numbers, new_numbers, strict=True) if old == o}
        )
        == 1
        for o in old_numbers
    )
    carried = carry_numbers(
        english(new_numbers), english(old_numbers), chinese(old_numbers)
    )
    if consistent:
        assert carried == chinese(new_numbers)
    else:  # one old number would become two different ones: a person must look
        assert carried is None
    # Changed words are never carried.
    assert (
        carry_numbers(
            english(new_numbers) + " more", english(old_numbers), chinese(old_numbers)
        )
        is None
    )
