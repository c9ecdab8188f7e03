#!/usr/bin/env bash
# One prepared run that proves and times every GPU path of pyavatar (issue #20; see benchmarks/RESULTS.md).
#
#   scripts/gpu_check.sh --prepare         here: fetch .whl/ (scripts/gpu_wheels.sh) and copy the LivePortrait
#                                          fixtures to .shared/ (both git-ignored; carry both to the GPU machine)
#   scripts/gpu_check.sh                   on the GPU machine, in the repository root: writes to $OUT
#   scripts/gpu_check.sh --dry-run         rehearsal on CPU: the same parts with CPU devices and small sizes, in
#                                          a temporary copy of what would travel (tracked and untracked files,
#                                          .whl/, .shared/) with its own venv, MediaPipe/PyAV/audio imports
#                                          blocked, and a temporary $OUT checked against the transfer limits
#   scripts/gpu_check.sh --plan [--dry-run]   print the parts and their commands, run nothing
#
# Options: --out DIR ($OUT), --parts a,b,... (subset, in the fixed order), --in-place (dry run in this checkout
# with this Python and no build: what CI runs), --budget SECONDS (whole run, default 470).
#
# Parts, each with its own time limit, in this order; a failing part does not stop the others:
#   env      nvidia-smi, Python / torch / triton / cupy / numpy / nvcc / ncu versions     -> env.txt
#   wheels   install the carried .whl/*.whl into /tmp/site (PYTHONPATH)
#   fixtures link ../shared to the carried .shared/ when ../shared is absent
#   build    pip install --no-deps --no-build-isolation --no-index -e . (CUDA on; retried CUDA off on failure)
#   tests    every CUDA test: kernel x backend x dtype vs the reference, the neural renderer's fp16 and
#            CUDA-graph path on the fixtures                                            -> tests.xml
#   kernels  pyavatar bench kernels --device cuda                                       -> kernels.json
#   render   pyavatar bench render --renderer neural --config full --batch 1 4 --dtype fp16
#            --cuda-graphs on off                                                       -> render.json
#   motion   pyavatar bench motion --device cuda                                        -> motion.json
#   profile  Nsight Compute speed-of-light of each fused kernel in fp16                 -> ncu.txt
# Every part's output goes to log.txt and its status to summary.txt: at most 8 files come back from $OUT.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL_PARTS=(env wheels fixtures build tests kernels render motion profile)
MODE=gpu
PLAN=0
IN_PLACE=0
PARTS=""
BUDGET=470
OUT_DIR=${OUT:-}

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) MODE=cpu ;;
    --plan) PLAN=1 ;;
    --in-place) IN_PLACE=1 ;;
    --prepare) MODE=prepare ;;
    --out) OUT_DIR=$2; shift ;;
    --parts) PARTS=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    -h|--help) usage 0 ;;
    *) echo "gpu_check: unknown option $1" >&2; usage 2 >&2 ;;
  esac
  shift
done

# ------------------------------------------------------------------------------------------------ prepare (here)
if [ "$MODE" = prepare ]; then
  set -e
  "$ROOT/scripts/gpu_wheels.sh" "$ROOT/.whl"
  src="$ROOT/../shared/fixtures/liveportrait"
  [ -d "$src" ] || { echo "gpu_check --prepare: fixtures not found at $src" >&2; exit 1; }
  rm -rf "$ROOT/.shared" && mkdir -p "$ROOT/.shared/fixtures"
  cp -r "$src" "$ROOT/.shared/fixtures/"
  du -sh "$ROOT/.shared" "$ROOT/.whl"
  tree_mb=$(cd "$ROOT" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
  echo "working tree ${tree_mb} bytes + carried folders: keep the total under 64 MiB"
  echo "device call: carry [\".whl\", \".shared\"], command: bash scripts/gpu_check.sh, timeout_s 600"
  exit 0
fi

# ------------------------------------------------------------------------------------------------ settings per mode
if [ "$MODE" = gpu ]; then
  DEVICE=cuda
  BENCH_KERNELS=(--device cuda --rounds 15)
  BENCH_RENDER=(--renderer neural --config full --batch 1 4 --dtype fp16 --cuda-graphs on off --device cuda)
  BENCH_MOTION=(--device cuda --seconds 8 --rounds 3)
  PROFILE_FILTER='regex:^pyavatar_.*_f16'
  LIMITS=(env=60 wheels=60 fixtures=10 build=200 tests=150 kernels=90 render=120 motion=90 profile=90)
else
  DEVICE=cpu
  BENCH_KERNELS=(--device cpu --rounds 1 --threads 2)
  BENCH_RENDER=(--renderer neural --config .shared/fixtures/liveportrait/config_reduced.json --batch 1
                --dtype fp32 --cuda-graphs on off --device cpu --warmup 0 --reps 1 --frame-size 320x240)
  BENCH_MOTION=(--device cpu --seconds 1 --rounds 1 --threads 2)
  PROFILE_FILTER=''
  LIMITS=(env=120 wheels=60 fixtures=10 build=900 tests=300 kernels=300 render=400 motion=400 profile=300)
  [ "$BUDGET" = 470 ] && BUDGET=3600  # CPU rehearsal: slower machine, same parts
fi
[ "$IN_PLACE" = 1 ] && [ "$MODE" = gpu ] && { echo "gpu_check: --in-place is for --dry-run" >&2; exit 2; }

limit_of() { local kv; for kv in "${LIMITS[@]}"; do [ "${kv%%=*}" = "$1" ] && echo "${kv#*=}"; done; }

selected() {  # the parts to run, in the fixed order
  local p
  for p in "${ALL_PARTS[@]}"; do
    if [ -z "$PARTS" ] || [[ ",$PARTS," == *",$p,"* ]]; then echo "$p"; fi
  done
}
if [ -n "$PARTS" ]; then
  for p in ${PARTS//,/ }; do
    [[ " ${ALL_PARTS[*]} " == *" $p "* ]] || { echo "gpu_check: unknown part '$p' (parts: ${ALL_PARTS[*]})" >&2; exit 2; }
  done
fi
[ "$IN_PLACE" = 1 ] && [ -z "$PARTS" ] && PARTS=env,fixtures,tests,kernels,render,motion,profile

# Commands of each part, as they run (PY is the interpreter, REPO the checkout it runs in).
part_command() {
  case $1 in
    env) echo "env_report" ;;
    wheels) echo "\$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl" ;;
    fixtures) echo "ln -s \$REPO/.shared ../shared  (only when ../shared is absent)" ;;
    build) echo "PYAVATAR_CUDA=ON CUDAARCHS=90 \$PY -m pip install -q --no-deps --no-build-isolation --no-index -e ." ;;
    tests) echo "\$PY -m pytest -q -rs -p no:cacheprovider -m cuda tests/kernels tests/render/test_lp_cuda.py --junitxml \$OUT/tests.xml" ;;
    kernels) echo "\$PY -m pyavatar.cli bench kernels ${BENCH_KERNELS[*]} --json \$OUT/kernels.json" ;;
    render) echo "\$PY -m pyavatar.cli bench render ${BENCH_RENDER[*]} --json \$OUT/render.json" ;;
    motion) echo "\$PY -m pyavatar.cli bench motion ${BENCH_MOTION[*]} --json \$OUT/motion.json" ;;
    profile)
      local run="\$PY -m pyavatar.cli bench kernels --device $DEVICE --profile"
      if [ -n "$PROFILE_FILTER" ]; then
        echo "ncu --clock-control none --section SpeedOfLight --section LaunchStats -k $PROFILE_FILTER $run > \$OUT/ncu.txt"
      else
        echo "$run > \$OUT/ncu.txt  (no GPU: the profiled program alone)"
      fi ;;
  esac
}

if [ "$PLAN" = 1 ]; then
  echo "mode: $MODE (device $DEVICE), budget ${BUDGET}s"
  for p in $(selected); do printf '%-8s %4ss  %s\n' "$p" "$(limit_of "$p")" "$(part_command "$p")"; done
  exit 0
fi

# ------------------------------------------------------------------------------------------------ where it runs
START=$SECONDS
if [ "$MODE" = cpu ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyavatar-gpu-check.XXXXXX")
  [ -n "$OUT_DIR" ] || OUT_DIR=$WORK/out
  if [ "$IN_PLACE" = 1 ]; then
    REPO=$ROOT
    PY=${PYTHON:-python3}
  else
    # What the device tool sends: tracked and untracked-not-ignored files, plus the carried folders.
    REPO=$WORK/repo
    mkdir -p "$REPO"
    (cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$REPO")
    for carried in .whl .shared; do [ -d "$ROOT/$carried" ] && cp -r "$ROOT/$carried" "$REPO/"; done
    # A fresh venv over the dependencies this checkout's Python sees (torch etc.), like the GPU image's venv.
    host=${PYTHON:-python3}
    deps=$("$host" -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))") &&
      base=$("$host" -c "import sys; print(sys._base_executable)") &&
      "$base" -m venv "$WORK/venv" &&
      purelib=$("$WORK/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") &&
      echo "$deps" >"$purelib/zz_deps.pth" || { echo "gpu_check: could not make the rehearsal venv" >&2; exit 1; }
    PY=$WORK/venv/bin/python
  fi
  # Nothing the GPU machine lacks may be imported by the GPU parts.
  export PYAVATAR_BLOCK_IMPORTS=mediapipe,sounddevice,soundfile,av,pyvirtualcam,pythonosc
  export PYTHONPATH=$ROOT/scripts/rehearsal${PYTHONPATH:+:$PYTHONPATH}
else
  REPO=$ROOT
  PY=${PYTHON:-python3}
  : "${OUT_DIR:?gpu_check: set OUT or pass --out DIR}"
  # nvcc and ncu may be installed off the PATH.
  for tool_dir in /usr/local/cuda/bin /opt/nvidia/nsight-compute/*; do
    [ -d "$tool_dir" ] && PATH=$PATH:$tool_dir
  done
  export PATH
fi
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
cd "$REPO" || exit 1
LOG=$OUT_DIR/log.txt
SUMMARY=$OUT_DIR/summary.txt
: >"$LOG"
: >"$SUMMARY"
export PY REPO OUT="$OUT_DIR" PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
echo "gpu_check mode=$MODE device=$DEVICE repo=$REPO out=$OUT_DIR budget=${BUDGET}s $(date -u +%FT%TZ)" | tee -a "$SUMMARY"

env_report() {
  {
    echo "## nvidia-smi"; nvidia-smi 2>&1 || echo "(nvidia-smi not available)"
    echo "## nvcc"; nvcc --version 2>&1 | tail -2 || echo "(nvcc not found)"
    echo "## ncu"; ncu --version 2>&1 | tail -1 || echo "(ncu not found)"
    echo "## python"
    "$PY" - <<'EOF'
import importlib, platform, sys
print("python", sys.version.split()[0], platform.machine())
for name in ("torch", "triton", "cupy", "numpy", "safetensors", "scikit_build_core", "pybind11"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as exc:  # report, don't stop: a missing package is a finding
        print(name, "unavailable:", type(exc).__name__, exc)
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("device", p.name, f"sm_{p.major}{p.minor}", p.multi_processor_count, "SMs", p.total_memory >> 20, "MiB")
EOF
  } >"$OUT/env.txt" 2>&1
  cat "$OUT/env.txt"
}

run_part() {  # run_part NAME: one part under its time limit, capped by what is left of the budget
  local name=$1 limit left t0 rc
  limit=$(limit_of "$name")
  left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -lt 15 ]; then
    printf '%-8s SKIPPED  budget spent\n' "$name" | tee -a "$SUMMARY"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  printf '\n===== %s (limit %ss): %s\n' "$name" "$limit" "$(part_command "$name")" >>"$LOG"
  t0=$SECONDS
  timeout -k 10 "$limit" bash -c "part_$name" >>"$LOG" 2>&1
  rc=$?
  local status=ok
  [ "$rc" -ne 0 ] && status="FAILED rc=$rc"
  [ "$rc" -eq 124 ] && status="TIMEOUT after ${limit}s"
  printf '%-8s %-22s %4ss\n' "$name" "$status" "$((SECONDS - t0))" | tee -a "$SUMMARY"
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}

part_env() { env_report; }
part_wheels() {
  compgen -G ".whl/*.whl" >/dev/null || { echo "no .whl/ carried: the image's own build packages are used"; return 0; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
}
part_fixtures() {
  if [ -d ../shared/fixtures/liveportrait ]; then echo "../shared present"; return 0; fi
  [ -d .shared/fixtures/liveportrait ] || { echo "neither ../shared nor a carried .shared/ holds the fixtures"; return 1; }
  ln -sfn "$REPO/.shared" ../shared && echo "../shared -> $REPO/.shared"
}
part_build() {
  local cuda=ON
  command -v nvcc >/dev/null || [ -n "${CUDACXX:-}" ] || { echo "no nvcc: building without CUDA"; cuda=OFF; }
  if PYAVATAR_CUDA=$cuda CUDAARCHS=${CUDAARCHS:-90} "$PY" -m pip install -q --no-deps --no-build-isolation --no-index -e .; then
    "$PY" -c "import pyavatar._core as c; print('pyavatar._core', c.build_info())"
    [ "$cuda" = ON ] && "$PY" -c "import pyavatar._cuda as c; print('pyavatar._cuda', c.available())"
    return 0
  fi
  echo "build with PYAVATAR_CUDA=$cuda failed; building without CUDA so the other backends still run"
  PYAVATAR_CUDA=OFF "$PY" -m pip install -q --no-deps --no-build-isolation --no-index -e .
  return 1
}
part_tests() {
  local rc
  "$PY" -m pytest -q -rs -p no:cacheprovider -m cuda tests/kernels tests/render/test_lp_cuda.py --junitxml "$OUT/tests.xml"
  rc=$?
  [ "$rc" -eq 5 ] && rc=1  # nothing collected is a failure here
  "$PY" "$REPO/scripts/gpu_tests_report.py" "$OUT/tests.xml" --device "$DEVICE" || rc=1
  return "$rc"
}
# Arrays do not cross `bash -c`: these parts rebuild them from the exported strings.
part_kernels() { read -ra a <<<"$BENCH_KERNELS_S"; "$PY" -m pyavatar.cli bench kernels "${a[@]}" --json "$OUT/kernels.json"; }
part_render() { read -ra a <<<"$BENCH_RENDER_S"; "$PY" -m pyavatar.cli bench render "${a[@]}" --json "$OUT/render.json"; }
part_motion() { read -ra a <<<"$BENCH_MOTION_S"; "$PY" -m pyavatar.cli bench motion "${a[@]}" --json "$OUT/motion.json"; }
part_profile() {
  local run=("$PY" -m pyavatar.cli bench kernels --device "$DEVICE" --profile)
  if [ -n "$PROFILE_FILTER" ]; then
    ncu --clock-control none --section SpeedOfLight --section LaunchStats -k "$PROFILE_FILTER" "${run[@]}" >"$OUT/ncu.txt" 2>&1
    local rc=$?
    tail -40 "$OUT/ncu.txt"
    return $rc
  fi
  "${run[@]}" >"$OUT/ncu.txt" 2>&1
}
export -f env_report part_env part_wheels part_fixtures part_build part_tests part_kernels part_render part_motion part_profile
export DEVICE PROFILE_FILTER
export BENCH_KERNELS_S="${BENCH_KERNELS[*]}" BENCH_RENDER_S="${BENCH_RENDER[*]}" BENCH_MOTION_S="${BENCH_MOTION[*]}"

FAILED=0
for p in $(selected); do
  if [ "$p" = wheels ]; then
    run_part wheels
    [ -d /tmp/site ] && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    run_part "$p"
  fi
done

# What comes back from $OUT: at most 8 plain files, 16 MiB each, names of letters, digits, '.', '_', '-'.
"$PY" "$REPO/scripts/gpu_tests_report.py" --check-out "$OUT" | tee -a "$SUMMARY" || FAILED=$((FAILED + 1))
echo "gpu_check: $FAILED part(s) failed in $((SECONDS - START))s" | tee -a "$SUMMARY"
[ "$MODE" = cpu ] && [ "$IN_PLACE" = 0 ] && echo "rehearsal copy kept in $WORK (remove when done)"
exit $((FAILED > 0))
