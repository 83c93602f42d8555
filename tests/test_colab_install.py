"""The Colab path: install tlbook into a fresh environment the way the setup cell does, then run a chapter.

Colab keeps its preinstalled torch and installs only the book's library. Here a
fresh virtual environment sees this environment's packages as its
"preinstalled" ones (a ``.pth`` file), and the setup cell's
``pip install "tlbook @ git+<repository>"`` is run with the repository's local
path in place of the URL (there is no network). Chapter 2 then runs top to
bottom in the ``smoke`` preset in a kernel of that environment, and the
notebook itself reports that it imported the freshly installed copy. Chapter 6
then runs in the ``cpu`` preset, as a Colab reader gets it: every study it
shows is loaded from the results installed with the package, none is re-run.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import build_notebooks as builder  # tools/, put on sys.path by conftest.py
import nbformat
import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # builds a virtual environment: left out of make unit


CHAPTER = ROOT / "book" / "02_augmentation.ipynb"
STUDIES_CHAPTER = (
    ROOT / "book" / "06_outlook.ipynb"
)  # loads saved studies in the cpu preset

DRIVER = """
import sys, nbformat
from nbclient import NotebookClient

nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("from tlbook.devices import runtime_report; print(runtime_report())"))
nb.cells.append(nbformat.v4.new_code_cell("import tlbook; print('TLBOOK_FROM', tlbook.__file__)"))
NotebookClient(nb, kernel_name="colab-like", timeout=600, resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])
"""


def install_command(python: Path, checkout: Path) -> list[str]:
    """The setup cell's pip command, with a local checkout's path for the repository URL."""
    source = (ROOT / "chapters" / f"{STUDIES_CHAPTER.stem}.py").read_text()
    cell = builder.colab_cell_source(builder.chapter_extras(source))  # with its extras
    requirement = next(
        part
        for part in cell.split('"')
        if part.startswith("tlbook") and " @ git+" in part
    )
    local = requirement.replace(f"git+{builder.repository_url()}", checkout.as_uri())
    return [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--no-build-isolation",
        local,
    ]


def test_setup_cell_install_then_chapter_runs(tmp_path, cifar):
    venv = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [
                str(python),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            text=True,
        ).strip()
    )
    # Colab's preinstalled packages (torch, jupyter, ...): this environment's, behind the fresh one's own.
    (site / "colab_preinstalled.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    # venv's bundled setuptools is older than torch requires; Colab's is current: use the preinstalled one.
    subprocess.run(
        [str(python), "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"],
        check=True,
    )

    # pip builds in the source tree: build from a copy, so that the repository is left untouched.
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "_build",
            "build",
            "runs",
            ".cache",
            "*.egg-info",
            "__pycache__",
            "book",
            "examples",
        ),
    )
    cmd = install_command(python, checkout)
    assert cmd[-1].startswith("tlbook[export] @ file://")
    subprocess.run(cmd, check=True, cwd=tmp_path)
    installed = list(site.glob("tlbook-*.dist-info"))
    assert installed, "pip did not install tlbook into the fresh environment"
    # The exercises' feedback in Chinese comes from the table installed with the package.
    said = subprocess.run(
        [
            str(python),
            "-c",
            'from tlbook.exercises import check; check("3.2", lambda *a: 0)',
        ],
        env={**os.environ, "TLBOOK_LANG": "zh_CN"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "练习 3.2（卷积的输出尺寸）" in said, said

    kernels = tmp_path / "jupyter" / "kernels" / "colab-like"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(python),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "colab-like",
                "language": "python",
            }
        )
    )
    for chapter, preset in [(CHAPTER, "smoke"), (STUDIES_CHAPTER, "cpu")]:
        env = {
            **os.environ,
            "JUPYTER_PATH": str(tmp_path / "jupyter"),
            "TLBOOK_PRESET": preset,
            "TLBOOK_DATA": str(cifar),
            "MPLBACKEND": "Agg",
        }
        out = tmp_path / f"executed-{chapter.name}"
        workdir = (
            tmp_path / f"work-{chapter.stem}"
        )  # a folder of its own: no checkout around it
        workdir.mkdir()
        subprocess.run(
            [str(python), "-c", DRIVER, str(chapter), str(out), str(workdir)],
            check=True,
            env=env,
            cwd=workdir,
            timeout=900,
        )

        nb = nbformat.read(out, as_version=4)
        errors = [
            o
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]
        report = "".join(o.get("text", "") for o in nb.cells[-2].outputs)
        assert report.startswith("Running on the"), (
            f"the setup cell's runtime report failed: {report!r}"
        )
        printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        origin = Path(printed.split("TLBOOK_FROM", 1)[1].strip())
        assert site in origin.parents, (
            f"{chapter.name} imported tlbook from {origin}, not from {site}"
        )
        assert ROOT not in origin.parents
        if preset == "cpu":
            text = "".join(
                o.get("text", "")
                for c in nb.cells
                if c.cell_type == "code"
                for o in c.outputs
            )
            calls = sum(
                c.source.count('load_or_run("')
                for c in nb.cells
                if c.cell_type == "code"
            )
            loaded = text.count("loaded tlbook/results/")
            assert calls >= 2 and loaded == calls, (
                f"{loaded} of {calls} studies loaded; the others were re-run"
            )
