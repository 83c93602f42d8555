#!/usr/bin/env bash
# The measurements only a CUDA GPU can make (README, "Reproducing the numbers"):
#
#   train      the full preset: all of CIFAR-10 at 224 px, EfficientNet-Lite0 fine-tuned
#              (goal: >= 96 % test accuracy) -> OUT/metrics.json, OUT/train.log
#   benchmark  `make benchmark` on the GPU (goal: whole step >= 3x the source's loop)
#              -> OUT/benchmark-<backbone>-gpu.json, OUT/benchmark-<backbone>.log
#   chapter    chapter 4 executed end to end in the cpu preset, as a Colab reader runs it
#              (needs nbclient and ipykernel) -> OUT/chapter-time.txt, OUT/chapter.log
#
# Usage:  tools/gpu_measurements.sh OUT [train|benchmark|chapter|all]      (default: all)
#         tools/gpu_measurements.sh --smoke OUT [train|benchmark|chapter|all]
#
# It also runs on an offline GPU machine where tlbook is not installed, from the
# bundle that tools/bundle_for_gpu.sh packs into .remote/ (about 40 MB): when
# `import tlbook` fails it uses src/ and .remote/site/ (the EfficientNet-Lite0
# weights package), and when TLBOOK_DATA is unset it unpacks
# .remote/cifar10-jpeg.tar.xz into /tmp. Copy the JSON files it writes into
# src/tlbook/results/ and the rows into README.md and book/benchmarks.md.
#
# --smoke checks the plumbing in a minute on any machine, CPU included: the smoke
# preset and one quick 32-px benchmark round; its numbers mean nothing.
set -euo pipefail

smoke=0
if [ "${1:-}" = "--smoke" ]; then smoke=1; shift; fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 [--smoke] OUT [train|benchmark|all]" >&2
    exit 2
fi
what=${2:-all}
case "$what" in train|benchmark|chapter|all) ;; *) echo "$0: unknown step '$what' (train, benchmark, chapter or all)" >&2; exit 2;; esac
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}  # make setup's, else the machine's
export PYTHONUNBUFFERED=1
scratch=()  # temporary folders (unpacked data, the run's checkpoint), removed on exit
trap 'rm -rf "${scratch[@]}"' EXIT

if ! "$PY" -c "import tlbook" 2>/dev/null; then
    export PYTHONPATH="$PWD/src:$PWD/.remote/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -z "${TLBOOK_DATA:-}" ] && [ -f .remote/cifar10-jpeg.tar.xz ]; then
    data_dir=$(mktemp -d /tmp/tlbook-data.XXXXXX); scratch+=("$data_dir")
    tar -xJf .remote/cifar10-jpeg.tar.xz -C "$data_dir"
    export TLBOOK_DATA="$data_dir/cifar10-jpeg"
fi

"$PY" - "$smoke" <<'EOF'
import sys

import timm
import torch
import torchvision

import tlbook.backbones

cuda = torch.cuda.is_available()
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}, "
      f"device: {torch.cuda.get_device_name() if cuda else 'CPU'}")
tlbook.backbones.create_model("efficientnet_lite0", num_classes=10)  # the weights load, offline
if not cuda and sys.argv[1] != "1":
    sys.exit("no CUDA GPU here: these measurements are the GPU's (use --smoke to check the plumbing)")
EOF

if [ "$what" = train ] || [ "$what" = all ]; then
    run_dir=$(mktemp -d /tmp/tlbook-gpu-run.XXXXXX); scratch+=("$run_dir")
    preset=full; [ $smoke = 1 ] && preset=smoke
    # With its progress bar, so that the log holds each epoch's validation accuracy even if the run is cut short.
    "$PY" -m tlbook train --preset "$preset" --out "$run_dir" 2>&1 | tee "$out/train.log"
    cp "$run_dir/metrics.json" "$out/metrics.json"  # the checkpoint stays behind: 14 MB nobody needs here
fi
if [ "$what" = benchmark ] || [ "$what" = all ]; then
    quick=(); [ $smoke = 1 ] && quick=(--quick --rounds 1 --sizes 32 --workers 0)
    for backbone in efficientnet_lite0 resnet18; do
        "$PY" benchmarks/pipeline_speed.py --backbone "$backbone" "${quick[@]}" \
            --out "$out/benchmark-$backbone-gpu.json" 2>&1 | tee "$out/benchmark-$backbone.log"
    done
fi
if [ "$what" = chapter ] || [ "$what" = all ]; then
    if "$PY" -c "import nbclient, ipykernel" 2>/dev/null; then
        preset=cpu; [ $smoke = 1 ] && preset=smoke
        copy=$(mktemp -d /tmp/tlbook-chapter.XXXXXX); scratch+=("$copy")
        cp -r book chapters tools _config.yml "$copy"/  # execute a copy: the repository's notebook stays as committed
        start=$(date +%s)
        (cd "$copy" && "$PY" tools/build_notebooks.py 04 --preset "$preset") 2>&1 | tee "$out/chapter.log"
        echo "chapter 04, $preset preset, executed end to end in $(( $(date +%s) - start )) s" | tee "$out/chapter-time.txt"
    else
        echo "chapter: skipped (nbclient and ipykernel are not installed here)" | tee "$out/chapter-time.txt"
    fi
fi
echo "wrote $(ls "$out" | tr '\n' ' ')into $out"
