#!/usr/bin/env bash
# One short prepared GPU check of ddf (sized for one NVIDIA H200; the whole run stays under
# 8 minutes: every step has its own timeout, capped by what is left of GPU_CHECK_BUDGET_S).
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh      # from the repository root
#
# Steps (each continues past a failure of the one before; the summary says which failed):
#   1. venv + `pip install -e . "jax[cuda12]"` (skipped when $VENV already has ddf and the CUDA
#      plugin; FORCE_INSTALL=1 reinstalls). The GPU machine reaches package registries (PyPI)
#      and nothing else, so everything comes from pip: no weights, no datasets, no git.
#   2. nvidia-smi and jax.devices(); the benchmarks below are skipped if JAX sees no GPU.
#   3. bench_train.py: resnet50 and resnet50_bf16 train steps, 32 clips x 8 frames (256 frames
#      of 224 px per step), 10 steps, MFU against the H200 dense bf16 datasheet peak (989 TFLOP/s;
#      the float32 row is therefore a fraction of the bf16 peak).
#   4. bench_faces.py: the face pipeline on a synthetic 1280x720 clip, MTCNN (JAX) on the GPU,
#      plus the `mtcnn` wheel (TensorFlow, CPU) as a reference row.
#   5. a small synthetic FF++ tree, built with the FF++ builder (CPU workers), then
#      bench_input.py (grain loader in-process: --workers 0; the input pipeline is host-side).
#
# Environment: OUT (default ./gpu_check_out) receives every table (*.txt: stdout) and log (*.log:
# stderr) and summary.txt; VENV (default .venv: git-ignored, so a warm machine keeps it);
# PYTHON (default python3); JAX_SPEC (default "jax[cuda12]"); GPU_CHECK_BUDGET_S (default 460);
# STEPS (default "train faces input": a subset reruns only those benchmarks, e.g. after a
# timeout); REQUIRE_GPU=0 runs the benchmarks without a GPU (only to test this script).
# Exit status: 0 if every step passed, 1 otherwise.

set -uo pipefail

START=$(date +%s)
BUDGET_S=${GPU_CHECK_BUDGET_S:-460}
OUT=${OUT:-./gpu_check_out}
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
JAX_SPEC=${JAX_SPEC:-jax[cuda12]}
STEPS=${STEPS:-train faces input}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
cd "$(dirname "$0")/.." || exit 1 # the repository root
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ddf_gpu_check.XXXXXX")
PY="$VENV/bin/python"
export VENV PY PYTHON JAX_SPEC TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1

SUMMARY=()
FAILED=0

remaining() { echo $((BUDGET_S - ($(date +%s) - START))); }

# step NAME CAP_S OUTFILE CMD...: runs CMD under timeout min(CAP_S, time left - 5 s); stdout is
# tee'd to $OUT/OUTFILE.txt, stderr goes to $OUT/OUTFILE.log. Records PASS / FAIL / TIMEOUT / SKIP.
step() {
  local name=$1 cap=$2 file=$3
  shift 3
  local left t t0 rc status
  left=$(($(remaining) - 5))
  t=$((cap < left ? cap : left))
  if ((t < 15)); then
    SUMMARY+=("SKIP     ${name} (out of time budget)")
    FAILED=1
    echo "== ${name}: skipped, ${left}s left"
    return 1
  fi
  echo "== ${name} (timeout ${t}s) -> ${OUT}/${file}.txt"
  t0=$(date +%s)
  timeout --kill-after=5 "$t" "$@" 2>"$OUT/${file}.log" | tee "$OUT/${file}.txt"
  rc=${PIPESTATUS[0]}
  if ((rc == 0)); then
    status=PASS
  elif ((rc == 124 || rc == 137)); then
    status=TIMEOUT
  else
    status="FAIL"
  fi
  if ((rc != 0)); then
    FAILED=1
    echo "-- ${name}: ${status} (rc ${rc}); last lines of ${file}.log:"
    tail -n 15 "$OUT/${file}.log" | sed 's/^/   /'
  fi
  SUMMARY+=("$(printf '%-8s %-34s %4ss  %s' "$status" "$name" $(($(date +%s) - t0)) "${file}.txt")")
  return "$rc"
}

skip() {
  SUMMARY+=("SKIP     $1 ($2)")
  FAILED=1
  echo "== $1: skipped ($2)"
}

# ----------------------------------------------------------------------------- 1. environment
install_env() {
  if [[ ! -x "$PY" ]]; then
    if command -v uv >/dev/null; then uv venv -q --python "$PYTHON" "$VENV"; else "$PYTHON" -m venv "$VENV"; fi || return 1
  fi
  if [[ "${FORCE_INSTALL:-0}" != 1 ]] &&
    "$PY" -c "import importlib.metadata as m, ddf, jax; m.version('jax-cuda12-plugin')" 2>/dev/null; then
    echo "reusing $VENV (ddf and the jax CUDA plugin import); FORCE_INSTALL=1 reinstalls"
    return 0
  fi
  if command -v uv >/dev/null; then
    uv pip install -q --python "$PY" -e . "$JAX_SPEC"
  else
    "$PY" -m pip install -q --progress-bar off -e . "$JAX_SPEC"
  fi
}
export -f install_env # `timeout` runs programs, not shell functions: run it through bash -c
step "install (venv, ddf, ${JAX_SPEC})" 240 install bash -c install_env
timeout 30 "$PY" -c "
import importlib.metadata as m
for d in ('jax', 'jaxlib', 'jax-cuda12-plugin', 'jax-cuda12-pjrt', 'flax', 'optax', 'tensorflow-cpu',
          'nvidia-cudnn-cu12', 'nvidia-cublas-cu12'):
  try:
    print(d, m.version(d))
  except m.PackageNotFoundError:
    print(d, '-')
" >"$OUT/versions.txt" 2>&1

# ----------------------------------------------------------------------------- 2. device
if command -v nvidia-smi >/dev/null; then
  timeout 20 nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
  timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    >"$OUT/gpu.txt" 2>&1
fi
step "jax sees the GPU" 60 devices "$PY" -c "
import jax
print('jax', jax.__version__, 'backend', jax.default_backend(), jax.devices())
assert jax.default_backend() == 'gpu', 'JAX found no GPU'
"
GPU_OK=$?

# ----------------------------------------------------------------------------- 3-5. benchmarks
want() { [[ " ${STEPS} " == *" $1 "* ]]; }
if ((GPU_OK != 0)) && [[ "${REQUIRE_GPU:-1}" == 1 ]]; then
  for s in ${STEPS}; do skip "$s" "JAX sees no GPU"; done
else
  if want train; then
    step "bench_train resnet50(,_bf16) b32" 210 bench_train \
      "$PY" benchmarks/bench_train.py --configs resnet50,resnet50_bf16 --batch_size 32 \
      --clip_len 8 --steps 10 --peak_tflops 989
  fi
  if want faces; then
    step "bench_faces 720p, MTCNN on GPU" 100 bench_faces \
      "$PY" benchmarks/bench_faces.py --frames 32 --repeats 2 --detect-max-side 640 --crop-size 256
  fi
  if want input; then
    if step "synthetic FF++ tree (4/1/1 pairs)" 40 synthetic \
      "$PY" -m ddf.data.synthetic --out "$WORK/synthetic_ffpp" --pairs 4 1 1 --compressions c23 \
      --quiet &&
      step "build c23 f8 s64 (CPU workers)" 90 build \
        "$PY" -m ddf.data.build --manual_dir "$WORK/synthetic_ffpp" --data_dir "$WORK/tfds" \
        --config c23 --frames_per_video 8 --crop_size 64 --workers 0; then
      # --workers 0 only: with grain worker processes bench_input.py stops on absl's
      # UnparsedFlagAccessError (it does not parse absl flags; ddf.train does).
      step "bench_input workers=0" 45 bench_input \
        "$PY" benchmarks/bench_input.py --data_dir "$WORK/tfds" --config c23 \
        --frames_per_video 8 --crop_size 64 --clip_len 8 --batch_size 8 --batches 30 --workers 0
    else
      skip bench_input "no dataset"
    fi
  fi
fi
rm -rf "$WORK"

# ----------------------------------------------------------------------------- summary
{
  echo
  echo "== gpu_check summary ($(($(date +%s) - START))s of ${BUDGET_S}s budget; outputs in ${OUT})"
  head -n 1 "$OUT/devices.txt" 2>/dev/null
  tr '\n' ' ' <"$OUT/versions.txt" 2>/dev/null && echo
  cat "$OUT/gpu.txt" 2>/dev/null
  printf '%s\n' "${SUMMARY[@]}"
  for f in bench_train bench_faces bench_input; do
    if [[ -s "$OUT/$f.txt" ]]; then
      echo
      echo "-- $f"
      cat "$OUT/$f.txt"
    fi
  done
  echo
  if ((FAILED)); then echo "RESULT: some steps failed or were skipped (see above)"; else echo "RESULT: all steps passed"; fi
} | tee "$OUT/summary.txt"
exit "$FAILED"
