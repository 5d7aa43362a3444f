#!/usr/bin/env bash
# One short prepared GPU check of ddf (sized for one NVIDIA H200; the whole run stays under
# 8 minutes: every step has its own timeout, capped by what is left of GPU_CHECK_BUDGET_S).
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh      # from the repository root
#
# The Python environment: $PY must import JAX with its GPU plugin and ddf's dependencies
# (`pip install -e . "jax[cuda12]"`). On a machine that cannot reach a package index, put wheels
# of the missing packages in $WHEELS (default .whl/, git-ignored): they are installed offline into
# a folder of their own and put first on PYTHONPATH; the repository root is on PYTHONPATH too.
#
# Steps (each continues past a failure of the one before; the summary says which failed):
#   1. offline install of $WHEELS (if the folder exists), versions, nvidia-smi, jax.devices();
#      the benchmarks are skipped if JAX sees no GPU.
#   2. bench_train.py, bfloat16: the ResNet50 fusion model's train step, 32 clips x 8 frames
#      (256 frames of 224 px per step), MFU against a bf16 matmul measured in the same run and
#      against the H200 dense bf16 datasheet peak (989 TFLOP/s).
#   3. bench_faces.py: the face pipeline on a synthetic 1280x720 clip, MTCNN (JAX) on the GPU
#      (no TensorFlow row: the `mtcnn` wheel's detector needs TensorFlow).
#   4. bench_input.py on a dataset of 256 px crops, with 0 (in process), 4 and 8 grain workers:
#      the host-side input pipeline's frames/s. The dataset is $GPU_DATA (default .gpu_data/tfds,
#      built beforehand with ddf.data.build) or, if missing, generated and built here. Needs
#      TensorFlow (TFDS parses the stored tf.train.Example records with it), which ddf's install
#      brings; leave `input` out of STEPS on a machine where TensorFlow cannot be installed.
#   5. bench_train.py, float32: the same step in float32 (last: the least important row).
#
# Environment: OUT (default ./gpu_check_out) receives every table (*.txt: stdout) and log (*.log:
# stderr) and summary.txt; PY (default python3); WHEELS (default .whl); GPU_DATA (default
# .gpu_data/tfds); GPU_CHECK_BUDGET_S (default 460); STEPS (default "train_bf16 faces input
# train_f32": a subset reruns only those); BATCH (default 32) and TRAIN_STEPS (default 10) size
# the train benchmark; REQUIRE_GPU=0 runs the benchmarks without a GPU (only to test this script).
# Exit status: 0 if every step passed, 1 otherwise.

set -uo pipefail

START=$(date +%s)
BUDGET_S=${GPU_CHECK_BUDGET_S:-460}
OUT=${OUT:-./gpu_check_out}
PY=${PY:-python3}
STEPS=${STEPS:-train_bf16 faces input train_f32}
BATCH=${BATCH:-32}
TRAIN_STEPS=${TRAIN_STEPS:-10}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1
cd "$(dirname "$0")/.." || exit 1 # the repository root
REPO=$(pwd)
WHEELS=${WHEELS:-.whl}
GPU_DATA=${GPU_DATA:-.gpu_data/tfds}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ddf_gpu_check.XXXXXX")
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1

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
  SUMMARY+=("$(printf '%-8s %-40s %4ss  %s' "$status" "$name" $(($(date +%s) - t0)) "${file}.txt")")
  return "$rc"
}

skip() {
  SUMMARY+=("SKIP     $1 ($2)")
  FAILED=1
  echo "== $1: skipped ($2)"
}

# ----------------------------------------------------------------------------- 1. environment
SITE="$WORK/site"
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  step "offline install of $WHEELS/*.whl" 60 install \
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi
timeout 30 "$PY" -c "
import importlib.metadata as m, sys
print('python', sys.version.split()[0])
for d in ('jax', 'jaxlib', 'jax-cuda12-plugin', 'jax-cuda13-plugin', 'flax', 'optax',
          'orbax-checkpoint', 'clu', 'grain', 'tensorflow-datasets', 'numpy', 'opencv-python-headless'):
  try:
    print(d, m.version(d))
  except m.PackageNotFoundError:
    pass
" >"$OUT/versions.txt" 2>&1
if command -v nvidia-smi >/dev/null; then
  timeout 20 nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
  timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    >"$OUT/gpu.txt" 2>&1
fi
step "jax sees the GPU; ddf imports" 60 devices "$PY" -c "
import jax
import ddf.train_step, ddf.faces
print('jax', jax.__version__, 'backend', jax.default_backend(), jax.devices())
assert jax.default_backend() == 'gpu', 'JAX found no GPU'
"
GPU_OK=$?

# ----------------------------------------------------------------------------- 2-5. benchmarks
want() { [[ " ${STEPS} " == *" $1 "* ]]; }
bench_train() { # CONFIG: one train-step row; the peak is a bf16 matmul measured in the same run.
  step "bench_train $1 b${BATCH}x8 224px" 170 "bench_train_$1" \
    "$PY" benchmarks/bench_train.py --configs "$1" --batch_size "$BATCH" --clip_len 8 \
    --steps "$TRAIN_STEPS" --peak_dtype bfloat16 --peak_tflops 989
}
if ((GPU_OK != 0)) && [[ "${REQUIRE_GPU:-1}" == 1 ]]; then
  for s in ${STEPS}; do skip "$s" "JAX sees no GPU"; done
else
  if want train_bf16; then bench_train resnet50_bf16; fi
  if want faces; then
    step "bench_faces 720p, MTCNN on GPU" 110 bench_faces \
      "$PY" benchmarks/bench_faces.py --frames 32 --repeats 2 --detect-max-side 640 \
      --crop-size 256 --no-tf
  fi
  if want input; then
    data="$GPU_DATA"
    if [[ ! -d "$data" ]]; then
      data="$WORK/tfds"
      step "synthetic FF++ tree (4/1/1 pairs, 320 px)" 60 synthetic \
        "$PY" -m ddf.data.synthetic --out "$WORK/synthetic_ffpp" --pairs 4 1 1 \
        --compressions c23 --size 320 --frames 32 --quiet &&
        step "build c23, 16 frames, 256 px crops" 120 build \
          "$PY" -m ddf.data.build --manual_dir "$WORK/synthetic_ffpp" --data_dir "$data" \
          --config c23 --frames_per_video 16 --crop_size 256 --workers 4
    fi
    if [[ -d "$data" ]]; then
      for w in 0 4 8; do
        step "bench_input 256 px, ${w} grain workers" 50 "bench_input_w$w" \
          "$PY" benchmarks/bench_input.py --data_dir "$data" --config c23 \
          --frames_per_video 16 --crop_size 256 --clip_len 8 --batch_size 8 --batches 40 \
          --workers "$w"
      done
    else
      skip bench_input "no dataset"
    fi
  fi
  if want train_f32; then bench_train resnet50; fi
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
  for f in "$OUT"/bench_*.txt; do
    if [[ -s "$f" ]]; then
      echo
      echo "-- $(basename "$f" .txt)"
      cat "$f"
    fi
  done
  echo
  if ((FAILED)); then echo "RESULT: some steps failed or were skipped (see above)"; else echo "RESULT: all steps passed"; fi
} | tee "$OUT/summary.txt"
exit "$FAILED"
