"""What tlbook says to a reader, in the reader's language: message templates and their translations.

English is the source. Every message is written where it is used, as an English template with named
placeholders, ``say("for {n} images you return {got}", n=n, got=got)``, or, for texts that live in
tables (an exercise's title, a part's name), as the text itself, ``label(title)``. One JSON table per
other language (``tlbook/locale/<language>.json``: English template -> translated template) holds
the translations. ``tests/test_translations.py`` reads every ``say`` call of the package and every
text handed to ``label``, and requires each in every table with the same placeholders, and nothing
else in a table: no message can be left untranslated, go stale, or be translated with a value lost.

The language is English unless a block runs ``with speaking(language):``.
:func:`tlbook.exercises.check` speaks the reader's language (``TLBOOK_LANG``, read by
:func:`tlbook.config.reader_language`); the grader never sets one: its feedback is for the
teacher, in English.

>>> say("first row {row}; {expected}", row="(1.00)", expected=say("expected {want}", want="(2.00)"))
'first row (1.00); expected (2.00)'
>>> with speaking("zh_CN"):
...     say("first row {row}; {expected}", row="(1.00)", expected=say("expected {want}", want="(2.00)"))
'第一行为 (1.00)；应为 (2.00)'
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import string
from collections.abc import Iterator
from importlib import resources

__all__ = ["say", "label", "speaking", "table", "placeholders"]

_LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar(
    "tlbook_language", default="en"
)


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Within the block, :func:`say` and :func:`label` answer in ``language`` (one of ``config.LANGUAGES``)."""
    from .config import LANGUAGES

    if language not in LANGUAGES:
        raise ValueError(f"tlbook speaks {', '.join(LANGUAGES)}; not {language!r}")
    token = _LANGUAGE.set(language)
    try:
        yield
    finally:
        _LANGUAGE.reset(token)


@functools.cache
def table(language: str) -> dict[str, str]:
    """The translations into ``language``: English template -> template (empty for English)."""
    if language == "en":
        return {}
    text = (
        resources.files("tlbook").joinpath(f"locale/{language}.json").read_text("utf-8")
    )
    found = json.loads(text)
    if not isinstance(found, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in found.items()
    ):
        raise ValueError(f"tlbook/locale/{language}.json is not a table of strings")
    return found


def placeholders(template: str) -> list[str]:
    """The names of ``template``'s placeholders, in order, with repeats.

    >>> placeholders("{a} and {b:.2f}; {{not one}} {a}")
    ['a', 'b', 'a']
    """
    return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]


def say(template: str, /, **values: object) -> str:
    """``template`` (English, a literal) in the language spoken here, with ``values`` filled in.

    Braces that are text are doubled, as in ``str.format``. A template missing from the table
    (which the tests forbid) is said in English rather than failing a reader's notebook.
    """
    text = table(_LANGUAGE.get()).get(template, template)
    return text.format(**values)


def label(text: str) -> str:
    """``text``, a fixed name from a table (a title, a part), in the language spoken here.

    >>> with speaking("zh_CN"):
    ...     label("output size of a convolution")
    '卷积的输出尺寸'
    """
    return table(_LANGUAGE.get()).get(text, text)
