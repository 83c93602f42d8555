"""The committed notebooks: built from their chapter sources, executed, Colab-ready, in the book."""

import re

import build_notebooks as builder  # tools/, put on sys.path by conftest.py
import nbformat
import pytest
from conftest import ROOT

SOURCES = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def test_every_chapter_source_has_its_notebook_and_back():
    assert [s.stem for s in SOURCES] == [n.stem for n in NOTEBOOKS]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_built_from_its_source(source):
    nb = nbformat.read(ROOT / "book" / f"{source.stem}.ipynb", as_version=4)
    execution = nb.metadata.get("tlbook", {}).get("execution")
    expected = [c.source for c in builder.notebook_cells(source.read_text(), execution)]
    assert [c.source for c in nb.cells] == expected, (
        f"book/{source.stem}.ipynb differs from chapters/{source.name}: run python tools/build_notebooks.py {source.stem}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_executed_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), (
        "commit notebooks executed (cpu preset)"
    )
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} has error outputs: {[e['ename'] for e in errors]}"
    described = [
        line
        for c in code
        for o in c.outputs
        if o.output_type == "stream"
        for line in o.get("text", "").splitlines()
        if line.startswith("preset ")
    ]
    assert described, f"{path.name} never prints cfg.describe()"
    assert all(line.startswith("preset cpu |") for line in described), (
        "committed outputs must come from the cpu preset"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_canonical_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    source = (ROOT / "chapters" / f"{path.stem}.py").read_text()
    assert first.source == builder.colab_cell_source(builder.chapter_extras(source))
    assert '"google.colab" in sys.modules' in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_has_objectives_summary_and_exercises(path):
    text = "\n".join(
        c.source
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "markdown"
    )
    assert "In this chapter" in text and "**Runtime**" in text
    assert "TLBOOK_PRESET" in text.split("## ")[0], (
        "the opening box says how to switch presets (Colab picks gpu)"
    )
    assert re.search(r"^## Summary", text, re.M) and re.search(
        r"^## Exercises", text, re.M
    )
    assert (
        3
        <= len(re.findall(r"^### Exercise \d\.\d", text.split("## Exercises")[1], re.M))
        <= 5
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_box_quotes_the_notebooks_own_timed_execution(path):
    """The runtime a chapter states is the recorded wall time of the run that made its outputs."""
    nb = nbformat.read(path, as_version=4)
    execution = nb.metadata.get("tlbook", {}).get("execution")
    assert execution, f"{path.name} has no timed execution: run make timings"
    assert execution["preset"] == "cpu" and execution["seconds"] > 0
    box = nb.cells[0].source
    assert (
        f"**Runtime**: <!-- runtime -->{builder.runtime_text(execution)}<!-- /runtime -->"
        in box
    )
    typed = re.findall(r"\d+ (?:s|min|minutes?)\b", builder.RUNTIME.sub("", box))
    assert not typed, f"{path.name}'s opening box types a runtime: {typed}"


def test_runtime_text_states_minutes_seconds_machine_and_other_work():
    record = {
        "seconds": 151.0,
        "preset": "cpu",
        "machine": "M, 2 cores",
        "date": "2026-12-02",
    }
    assert builder.runtime_text({**record, "other_cpu_seconds": 3.0}) == (
        "about 3 minutes (151 s in the `cpu` preset, a fresh kernel, measured on M, 2 cores, 2026-12-02)"
    )
    assert "upper bound" in builder.runtime_text({**record, "other_cpu_seconds": 40.0})
    assert "upper bound" not in builder.runtime_text(
        {**record, "other_cpu_seconds": None}
    )
    assert (
        builder.duration(59) == "under 1 minute"
        and builder.duration(90) == "about 2 minutes"
    )
    assert (
        builder.duration(60) == "about 1 minute"
        and builder.duration(3 * 3600) == "about 3.0 hours"
    )
    assert "make timings" in builder.runtime_text(None)


def test_other_processes_cpu_time_is_measured_around_a_run():
    """A waited-for child (as the notebook's kernel is) counts as the run's own CPU time; a process the
    run did not start counts as other work. No timing is asserted: only which side each CPU second is on,
    so other jobs loading the machine can only add to "other"."""
    import os
    import subprocess
    import sys

    before = builder.cpu_seconds()
    if before is None:
        pytest.skip("no /proc/stat on this system")
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; sum(i * i for i in range(3_000_000)); print(time.process_time())",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    after = builder.cpu_seconds()
    assert (
        after[1] - before[1] >= float(child.stdout) - 0.05
    )  # the child's CPU time is our own

    def burned(pid: int) -> int:  # the process's user + system CPU time, in clock ticks
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        before = builder.cpu_seconds()
        start = burned(burner.pid)
        while (
            burned(burner.pid) - start < 50
        ):  # half a CPU second by its own clock, not ours
            pass
        used = (burned(burner.pid) - start) / os.sysconf("SC_CLK_TCK")
        record = builder.execution_record(1.0, preset="cpu", before=before)
    finally:
        burner.kill()
        burner.wait()
    assert (
        record["other_cpu_seconds"] >= used - 0.1
    )  # the burner's CPU time is other work


def test_every_notebook_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in toc


def test_parse_percent_cells_tags_and_figures():
    cells = builder.parse_percent(
        '# %% [markdown]\n# # Title\n# text\n\n# %% tags=["a", "b"] figure={"caption": "c", "name": "n", "alt": "t"}\nx = 1\n'
    )
    assert [c.cell_type for c in cells] == ["markdown", "code"]
    assert cells[0].source == "# Title\ntext"
    assert cells[1].metadata["tags"] == ["a", "b"]
    assert cells[1].metadata["mystnb"] == {
        "figure": {"caption": "c", "name": "n"},
        "image": {"alt": "t"},
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_was_rendered_as_an_image(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        for out in cell.outputs:
            data = out.get("data", {})
            text = data.get("text/plain", "")
            if "Figure" in text and text.lstrip().startswith("<"):
                assert "image/png" in data, (
                    f"{path.name}, code cell {i}: a figure was shown as text only ({text!r})"
                )
        if "mystnb" in cell.metadata:
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), (
                f"{path.name}, code cell {i}: no image"
            )


def test_sample_submissions_are_built_from_their_source():
    """examples/submissions/ is generated too: the drift test the book and the exercises have."""
    import make_sample_submissions as samples  # tools/

    for name, fresh in samples.sample_submissions().items():
        committed = nbformat.read(samples.OUT / f"{name}.ipynb", as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
            f"examples/submissions/chapter02/{name}.ipynb differs: run python tools/make_sample_submissions.py"
        )


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS
    + sorted((ROOT / "exercises").glob("*.ipynb"))
    + sorted((ROOT / "examples" / "submissions").rglob("*.ipynb")),
    ids=lambda p: p.stem,
)
def test_every_generated_notebook_names_its_source_and_how_to_rebuild_it(path):
    meta = nbformat.read(path, as_version=4).metadata.get("tlbook", {})
    assert (ROOT / meta.get("generated_from", "?")).is_file(), (
        f"{path.name}: no generated_from marker"
    )
    assert meta.get("rebuild", "").startswith("python tools/"), (
        f"{path.name}: no rebuild command"
    )


@pytest.mark.slow
def test_an_executed_build_keeps_its_timing_record_and_quotes_it(tmp_path, monkeypatch):
    """The record is stored in the notebook that is written, and the opening box says what it holds."""
    source = tmp_path / "09_tiny.py"
    source.write_text(
        "# %% [markdown]\n# # Tiny\n#\n# **Runtime**: <!-- runtime --><!-- /runtime -->.\n\n"
        "# %%\nprint(6 * 7)\n"
    )
    monkeypatch.setattr(builder, "BOOK", tmp_path)
    target = builder.build(source, execute=True, preset="smoke", timeout=120)
    nb = nbformat.read(target, as_version=4)
    record = nb.metadata["tlbook"]["execution"]
    assert record["seconds"] > 0 and record["preset"] == "smoke" and record["machine"]
    assert builder.runtime_text(record) in nb.cells[0].source
    # A text-only rebuild keeps the record and the quote.
    target = builder.build(
        source, execute="if-code-changed", preset="smoke", timeout=120
    )
    again = nbformat.read(target, as_version=4)
    assert again.metadata["tlbook"]["execution"] == record
    assert again.cells[0].source == nb.cells[0].source
