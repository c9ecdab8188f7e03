#!/usr/bin/env bash
# Download the Python 3.12 wheels that scripts/gpu_check.sh installs on the GPU machine (no registry there)
# into .whl/ (git-ignored; name it in the device tool's `carry`).
#
# The GPU machine's image already holds torch 2.11 (CUDA 13), triton, cupy-cuda13x, numpy 2.x, safetensors,
# tqdm, pillow, packaging, pathspec, cmake and ninja. The GPU tests and benchmarks import nothing else of
# pyavatar's dependencies (no mediapipe, PyAV, soundfile or sounddevice: scripts/gpu_check.sh --dry-run blocks
# those imports to prove it), so only the build backend is carried, pinned to the versions this project is
# built with here, so the build there does not depend on whatever versions the image happens to hold.
#
# Usage: scripts/gpu_wheels.sh [DEST]   (default DEST: .whl in the repository root)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-$ROOT/.whl}
PYTHON=${PYTHON:-python3}

# name==version, one a line; pure-Python wheels (py3-none-any), whose needs (packaging, pathspec) the image has.
WHEELS=(
  "scikit-build-core==1.1.2"
  "pybind11==3.1.0"
)

mkdir -p "$DEST"
rm -f "$DEST"/*.whl  # one version of each: two would stop the install there
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "${WHEELS[@]}"

count=$(find "$DEST" -maxdepth 1 -type f -name '*.whl' | wc -l)
if [ "$count" -ne "${#WHEELS[@]}" ]; then
  echo "gpu_wheels: expected ${#WHEELS[@]} wheels in $DEST, found $count" >&2
  exit 1
fi
du -ch "$DEST"/*.whl | tail -1 | sed "s|total|in $DEST ($count wheels)|"
