"""The README's real-FaceForensics++ commands, exactly as written, on a small FF++-layout tree.

HOME points to a temporary folder, so `~/ddf_data/...` and `~/.keras/...` in the commands are
that folder; the tree is in the FF++ download layout (made by the synthetic generator, with its
generator files removed, as a download would look). Only the training length and batch sizes are
shortened (`--config.*` overrides appended to the README's command).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

BUILD = (
  "python -m ddf.data.build --manual_dir ~/ddf_data/FaceForensics++ "
  "--data_dir ~/ddf_data/tfds --config c23"
)
CONVERT = (
  "python -m ddf.weights --from keras --arch resnet50 "
  "--input ~/.keras/models/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 "
  "--output ~/ddf_data/weights/resnet50"
)
TRAIN = "python -m ddf.train --config configs/ffpp.py:c23,resnet50 --workdir {workdir}"
SHORT = (
  "--config.num_train_steps=2 --config.warmup_steps=1 --config.batch_size=2 "
  "--config.eval_batch_size=4 --config.eval_every_steps=0 --config.checkpoint_every_steps=2"
)


def _run(command: str, home: Path, timeout: int = 900) -> subprocess.CompletedProcess:
  env = dict(
    os.environ,
    HOME=str(home),
    PYTHONPATH=str(REPO),
    XLA_FLAGS="--xla_force_host_platform_device_count=1",
  )
  command = command.replace("python ", f"{sys.executable} ", 1)
  proc = subprocess.run(
    ["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
  )
  assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
  return proc


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
  """A HOME with an FF++-layout download (one pair per split, c23) and a Keras weights file."""
  home = tmp_path_factory.mktemp("home")
  manual = home / "ddf_data" / "FaceForensics++"
  from ddf.data import synthetic_lib as synthetic

  synthetic.generate(manual, pairs=(1, 1, 1), size=128, num_frames=40, seed=5, workers=2)
  for name in (synthetic.META_FILE, synthetic.ANNOTATIONS_FILE):
    (manual / name).unlink()
  os.environ.setdefault("KERAS_BACKEND", "jax")
  import h5py
  import keras
  from keras.src.legacy.saving import legacy_h5_format

  model = keras.applications.ResNet50(weights=None, include_top=False)
  path = home / ".keras" / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
  path.parent.mkdir(parents=True)
  with h5py.File(path, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
  return home


def test_readme_real_data_commands(home):
  readme = (REPO / "README.md").read_text()
  for command in (BUILD, CONVERT, TRAIN.format(workdir="runs/ffpp_c23_r50")):
    assert command in readme, f"README no longer shows: {command}"

  built = _run(BUILD, home)
  assert "Built faceforensics/c23" in built.stdout
  again = _run(BUILD, home)
  assert "Already built" in again.stdout

  _run(CONVERT, home)
  assert (home / "ddf_data" / "weights" / "resnet50" / "meta.json").exists()

  workdir = home / "runs" / "ffpp_c23_r50"
  trained = _run(f"{TRAIN.format(workdir=workdir)} {SHORT}", home, timeout=1500)
  assert "Best checkpoint on val" in trained.stdout
  report = json.loads((workdir / "eval" / "faceforensics_test.json").read_text())
  data = report["data"]
  assert data["builder"] == "faceforensics" and data["config"] == "c23"
  assert data["version"] == "2.0.0" and data["synthetic"] is None
  assert data["options"]["sampling"] == "windows" and data["options"]["crop_size"] == 256
  assert data["listed"] == 10 and data["built"] == 10 and data["scored"] == 10
  assert data["missing"] == [] and data["skipped"] == {}
  assert report["num_clips"] == 4 * report["num_scored_videos"]  # each window is a clip
  config = json.loads((workdir / "config.json").read_text())
  assert config["model"]["spatial"]["image_size"] == 224
  assert config["model"]["spatial"]["pretrained"] == "~/ddf_data/weights/resnet50"
