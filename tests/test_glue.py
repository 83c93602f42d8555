"""Numbers in a chapter's prose come from its outputs: glued (myst-nb), never typed.

A measured-looking number in a chapter's markdown (a percentage, a count of
points) must be a ``{glue:text}`name``` role, unless it is a fixed fact listed
in ``FIXED_FACTS`` below with the reason it is not a measurement. And every
glue role must name a number that the committed notebook really glued, so a
typo or a deleted ``glue(...)`` call fails here, not silently in the book.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import build_notebooks as builder  # tools/, put on sys.path by conftest.py
import nbformat
import pytest
from conftest import ROOT

SOURCES = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))

GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`(?P<name>[A-Za-z0-9_]+)(?::[^`]*)?`")
# A percentage or a count of points, e.g. "70.7 %", "12%", "3 points", "1.5 point".
MEASURED = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:%|points?\b)")

# Numbers that are definitions or settings, not results, with the reason.
FIXED_FACTS = {
    "01_concepts": {"chance is 10 %": "chance accuracy with 10 classes"},
    "02_augmentation": {
        "8 % to 100 %": "RandomResizedCrop's documented default area range",
        "up to 10 %": "the shift range of the book's augmentation (a setting)",
    },
    "04_finetuning": {"towards 100 %": "the ceiling training accuracy approaches"},
    "05_evaluation": {
        "95 % interval": "the confidence level of the interval",
        "90 % confident mean 90 % right": "the heading's example",
        "chance is 10 %": "chance accuracy with 10 classes",
    },
    "06_outlook": {"chance: 10 %": "chance accuracy with 10 classes"},
}


def _markdown(source: Path) -> str:
    cells = builder.notebook_cells(source.read_text())
    return "\n".join(c.source for c in cells if c.cell_type == "markdown")


def _without_glue_math_and_code(text: str) -> str:
    text = GLUE_ROLE.sub("GLUED", text)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)  # display math
    text = re.sub(r"\$[^$\n]*\$", " ", text)  # inline math
    text = re.sub(r"`[^`\n]*`", " ", text)  # code spans
    return text


def _unglued_numbers(source: Path) -> list[str]:
    text = _without_glue_math_and_code(_markdown(source))
    text = re.sub(r"\s+", " ", text)  # prose wraps lines anywhere
    for fact in FIXED_FACTS.get(source.stem, {}):
        text = text.replace(fact, " ")
    return [m.group(0) for m in MEASURED.finditer(text)]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_measured_numbers_in_prose_are_glued(source):
    found = _unglued_numbers(source)
    assert not found, (
        f"chapters/{source.name} types measured-looking numbers {found}: glue them from an output "
        "({glue:text}`name:.1f`) or, if they are fixed facts, add them to FIXED_FACTS with the reason"
    )


def test_the_check_finds_a_typed_number(tmp_path):
    fake = tmp_path / "99_fake.py"
    fake.write_text(
        "# %% [markdown]\n# Fine-tuning reaches 70.7 % and wins by 33 points; "
        "{glue:text}`acc:.1f` % is glued, $90\\%$ is maths.\n"
    )
    assert _unglued_numbers(fake) == ["70.7 %", "33 points"]


def _glued_names(notebook: Path) -> set[str]:
    nb = nbformat.read(notebook, as_version=4)
    names = set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            scrapbook = out.get("metadata", {}).get("scrapbook", {})
            if "name" in scrapbook:
                names.add(scrapbook["name"])
    return names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_glue_role_has_a_glued_value_in_the_committed_notebook(source):
    roles = {m.group("name") for m in GLUE_ROLE.finditer(_markdown(source))}
    missing = roles - _glued_names(ROOT / "book" / f"{source.stem}.ipynb")
    assert not missing, f"book/{source.stem}.ipynb glues no value for {sorted(missing)}"


def test_glued_values_are_plain_numbers_or_sentences():
    for notebook in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            for out in cell.get("outputs", []):
                if "scrapbook" in out.get("metadata", {}):
                    text = next(
                        v for k, v in out["data"].items() if k.endswith("text/plain")
                    )
                    if text[:1].isdigit() or text[:1] == "-":
                        json.loads(text)  # a number
                    else:  # a sentence (a paired test's verdict), shown as text: no Python quotes around it
                        assert text[:1] not in "'\"", text
                        assert " " in text or re.search("[\u4e00-\u9fff]", text), text


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_name_is_glued_twice(source):
    """myst-nb warns on a duplicate glue key, and the strict book build fails on the warning."""
    nb = nbformat.read(ROOT / "book" / f"{source.stem}.ipynb", as_version=4)
    names = [
        out["metadata"]["scrapbook"]["name"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "scrapbook" in out.get("metadata", {})
    ]
    assert len(names) == len(set(names)), sorted(
        {n for n in names if names.count(n) > 1}
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_a_sentence_glued_in_one_language_is_glued_in_every_language(source):
    """The Chinese edition pastes ``name__zh_CN`` where the text names ``name`` (tlbook.plots.glue_sentence)."""
    from tlbook.config import LANGUAGES

    names = _glued_names(ROOT / "book" / f"{source.stem}.ipynb")
    translated = {
        n.rsplit("__", 1)[0]
        for n in names
        if n.endswith(tuple(f"__{lang}" for lang in LANGUAGES))
    }
    assert translated <= names
    for name in translated:
        assert all(f"{name}__{lang}" in names for lang in LANGUAGES[1:]), name
