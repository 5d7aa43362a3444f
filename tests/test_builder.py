"""The FF++ TFDS builder on synthetic trees: split semantics, metadata, bad input, determinism."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ddf.data import build as build_command
from ddf.data import build_lib as build
from ddf.data import ffpp_examples, video_beam
from ddf.data.faceforensics import REPORT_NAME, Faceforensics, make_config
from ddf.data.ffpp_layout import CLASSIC_METHODS, read_split_pairs
from ddf.data.pipeline import RecordSource
from ddf.data.video import write_video
from tests.conftest import TINY_CROP, TINY_FRAMES_PER_VIDEO


def _records(builder, split):
  source = RecordSource(builder, split)
  return [source[i] for i in range(len(source))]


def _records_by_key(builder, split) -> dict[tuple[str, str], list]:
  """(method, video_id) -> every feature of that record (arrays as lists), for equality."""
  return {
    (r["method"], r["video_id"]): {
      k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in r.items()
    }
    for r in _records(builder, split)
  }


def _raw_records(path: Path) -> list[bytes]:
  from array_record.python.array_record_module import ArrayRecordReader

  reader = ArrayRecordReader(str(path))
  try:
    return [reader.read() for _ in range(reader.num_records())]
  finally:
    reader.close()


def _example(data: bytes):
  import tensorflow as tf

  return tf.train.Example.FromString(data)


def _expected(manual_dir: Path, split: str) -> set[tuple[str, str]]:
  """(method, video_id) the official split semantics put in `split`."""
  out = set()
  for a, b in read_split_pairs(manual_dir, split):
    out |= {("original", a), ("original", b)}
    for m in CLASSIC_METHODS:
      out |= {(m, f"{a}_{b}"), (m, f"{b}_{a}")}
  return out


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_split_follows_pair_semantics(tiny_tree, tiny_dataset, split):
  builder, _ = tiny_dataset
  records = _records(builder, split)
  got = {(r["method"], r["video_id"]) for r in records}
  assert got == _expected(tiny_tree, split)  # every listed video built, nothing else
  for r in records:
    if r["method"] == "original":
      assert r["label"] == 0 and r["target_id"] == r["source_id"] == r["video_id"]
    else:
      assert r["label"] == 1 and r["video_id"] == f"{r['target_id']}_{r['source_id']}"
    assert r["compression"] == "c23"
    assert len(r["frames"]) == TINY_FRAMES_PER_VIDEO
    assert r["landmarks"].shape == (TINY_FRAMES_PER_VIDEO, 5, 2)
    assert r["face_found"].all(), f"{r['method']}/{r['video_id']}: face not found"
    assert np.all(np.diff(r["frame_indices"]) > 0)
    assert r["original_height"] == r["original_width"] == 128
    assert r["fps"] > 0


def test_splits_are_disjoint_by_identity(tiny_dataset):
  builder, _ = tiny_dataset
  ids = {s: {r["target_id"] for r in _records(builder, s)} for s in ("train", "val", "test")}
  assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
  assert not ids["val"] & ids["test"]


def test_report_written_beside_dataset(tiny_dataset):
  builder, _ = tiny_dataset
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  assert report["splits"]["train"]["built"] == builder.info.splits["train"].num_examples
  assert report["splits"]["train"]["missing"] == 0
  assert report["detect_every"] == 1  # faces detected on every stored frame (the default)


def _subset_tree(src: Path, dst: Path, pairs_per_split: int = 1) -> Path:
  """A copy of `src` (videos symlinked) whose splits keep the first pairs only."""
  for sub in ("original_sequences", "manipulated_sequences"):
    shutil.copytree(
      src / sub,
      dst / sub,
      symlinks=True,
      copy_function=lambda s, d: Path(d).symlink_to(Path(s).resolve()),
    )
  (dst / "splits").mkdir(parents=True)
  for split in ("train", "val", "test"):
    pairs = json.loads((src / "splits" / f"{split}.json").read_text())[:pairs_per_split]
    (dst / "splits" / f"{split}.json").write_text(json.dumps(pairs))
  return dst


def _spoil(corrupt: Path, faceless: Path) -> None:
  """Replaces the (symlinked) video `corrupt` with random bytes and `faceless` with an 8-frame
  128 px video of noise."""
  corrupt.unlink()
  corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
  faceless.unlink()
  noise = np.random.default_rng(1).integers(0, 255, (8, 128, 128, 3), dtype=np.uint8)
  write_video(faceless, noise, fps=25)


def test_corrupt_faceless_and_missing_videos_are_reported_not_fatal(tiny_tree, tmp_path):
  manual = _subset_tree(tiny_tree, tmp_path / "manual")
  a, b = read_split_pairs(manual, "train")[0]
  corrupt = manual / "original_sequences/youtube/c23/videos" / f"{a}.mp4"
  faceless = manual / "manipulated_sequences/Face2Face/c23/videos" / f"{a}_{b}.mp4"
  _spoil(corrupt, faceless)
  missing = manual / "manipulated_sequences/FaceSwap/c23/videos" / f"{b}_{a}.mp4"
  missing.unlink()

  builder = build.get_builder(
    tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=1
  )
  build.build(builder, manual)
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())["splits"]["train"]
  assert report["listed"] == 10 and report["missing"] == 1
  assert report["missing_files"] == [str(missing)]
  assert report["skipped"] == 2
  assert "unreadable" in report["skipped_files"][f"original/{a}"]
  assert str(corrupt) in report["skipped_files"][f"original/{a}"]
  assert "no face" in report["skipped_files"][f"Face2Face/{a}_{b}"]
  got = {(r["method"], r["video_id"]) for r in _records(builder, "train")}
  assert got == _expected(manual, "train") - {
    ("original", a),
    ("Face2Face", f"{a}_{b}"),
    ("FaceSwap", f"{b}_{a}"),
  }

  # The same tree on two Beam workers (DirectRunner, multi_processing): the same records, in the
  # same order, each the same tf.train.Example, and the same report but for how it ran. (Not the
  # same file bytes: protobuf serialises an Example's feature map in an order that differs
  # between processes.)
  again = build.get_builder(
    tmp_path / "tfds2", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=2
  )
  build.build(again, manual)
  first, second = Path(builder.data_dir), Path(again.data_dir)
  shards = sorted(p.name for p in first.glob("*.array_record-*"))
  assert len(shards) == 3 and shards == sorted(p.name for p in second.glob("*.array_record-*"))
  for name in shards:
    one, two = _raw_records(first / name), _raw_records(second / name)
    assert len(one) == len(two) > 0, name
    assert [_example(x) for x in one] == [_example(y) for y in two], name
  assert (first / "ddf_index.json").read_text() == (second / "ddf_index.json").read_text()
  reports = [json.loads((d / REPORT_NAME).read_text()) for d in (first, second)]
  assert reports[0]["beam"]["workers"].startswith("1 (this process)")
  assert reports[1]["beam"]["workers"].startswith("2 (multi_processing")
  assert len(reports[0]["workers"]) == 1 and reports[0]["workers"][0]["pid"] == os.getpid()
  assert all(w["pid"] != os.getpid() for w in reports[1]["workers"])
  how_it_ran = ("beam", "workers", "peak_rss_mb_per_worker", "seconds")
  assert [{k: v for k, v in r.items() if k not in how_it_ran} for r in reports] == [
    {k: v for k, v in reports[0].items() if k not in how_it_ran}
  ] * 2


def test_missing_splits_error_names_what_to_do(tmp_path):
  (tmp_path / "manual" / "original_sequences").mkdir(parents=True)  # a download without splits/
  builder = build.get_builder(tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP)
  with pytest.raises(FileNotFoundError, match=r"splits.*train\.json"):
    build.build(builder, tmp_path / "manual")


def test_two_builds_are_identical(tiny_tree, tiny_dataset, tmp_path):
  builder, _ = tiny_dataset
  again = build.get_builder(
    tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=2, num_windows=1
  )  # workers must not change the result
  build.build(again, tiny_tree)
  for split in ("val",):
    first = sorted(_records(builder, split), key=lambda r: (r["method"], r["video_id"]))
    second = sorted(_records(again, split), key=lambda r: (r["method"], r["video_id"]))
    assert len(first) == len(second)
    for r1, r2 in zip(first, second, strict=True):
      assert r1["frames"] == r2["frames"]
      np.testing.assert_array_equal(r1["landmarks"], r2["landmarks"])


@pytest.mark.slow  # compiles large models (seconds to minutes)
class FaceforensicsBuilderTest(tfds.testing.DatasetBuilderTestCase):
  """The standard TFDS builder test over a one-pair-per-split synthetic tree."""

  DATASET_CLASS = Faceforensics
  BUILDER_CONFIG_NAMES_TO_TEST = [make_config("c23", frames_per_video=4, crop_size=32)]
  SPLITS = {"train": 10, "val": 10, "test": 10}
  MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False
  SKIP_CHECKSUMS = True

  @classmethod
  def setUpClass(cls):
    import tempfile

    from ddf.data import synthetic_lib as synthetic

    cls._tmp = tempfile.TemporaryDirectory()
    cls.EXAMPLE_DIR = str(Path(cls._tmp.name) / "manual")
    synthetic.generate(cls.EXAMPLE_DIR, pairs=(1, 1, 1), size=128, num_frames=8, seed=3, workers=1)
    super().setUpClass()

  @classmethod
  def tearDownClass(cls):
    super().tearDownClass()
    cls._tmp.cleanup()


# --- Issue: the real FF++ path (config names, target tracks, workers, index) -------------------


@pytest.mark.parametrize("compression", ["c23", "c40", "raw"])
def test_default_options_select_the_registered_config(tmp_path, compression):
  builder = build.get_builder(tmp_path, compression)  # crashed with TFDS's "Cannot name a custom"
  assert builder.builder_config is Faceforensics.builder_configs[compression]
  assert builder.builder_config.sampling == "windows" and builder.builder_config.num_windows == 4
  other = build.get_builder(tmp_path, compression, frames_per_video=16, num_windows=2)
  assert other.builder_config.name == f"{compression}_f16_w2"


def test_every_stored_option_changes_the_config_name():
  base = make_config("c23").name
  names = {
    make_config("c23", frames_per_video=16).name,
    make_config("c23", crop_size=128).name,
    make_config("c23", sampling="uniform").name,
    make_config("c23", num_windows=2).name,
    make_config("c23", margin=1.5).name,
    make_config("c23", min_face_size=20).name,
    make_config("c23", methods="Deepfakes").name,
  }
  assert base not in names and len(names) == 7


def test_build_cli_without_splits_says_what_to_do(tmp_path, capsys):
  (tmp_path / "manual" / "original_sequences").mkdir(parents=True)
  code = build_command.main(
    ["--manual_dir", str(tmp_path / "manual"), "--data_dir", str(tmp_path / "d"), "--config", "c23"]
  )
  assert code == 2
  err = capsys.readouterr().err
  assert "splits" in err and "download-FaceForensics.py" in err and "Traceback" not in err


def test_build_cli_will_not_pass_off_another_downloads_build(tiny_tree, tiny_dataset, capsys):
  builder, data_dir = tiny_dataset
  options = ["--data_dir", str(data_dir), "--config", "c23", "--num_windows", "1"]
  options += ["--frames_per_video", str(TINY_FRAMES_PER_VIDEO), "--crop_size", str(TINY_CROP)]
  assert build_command.main(["--manual_dir", str(tiny_tree), *options]) == 0
  assert f"Already built from {tiny_tree}" in capsys.readouterr().out
  other = tiny_tree.parent / "FaceForensics++"
  assert build_command.main(["--manual_dir", str(other), *options]) == 2
  err = capsys.readouterr().err
  assert f"built from {tiny_tree}, not from {other}" in err and "another --data_dir" in err


def test_fakes_use_their_targets_track_and_report_it(tiny_dataset):
  builder, _ = tiny_dataset
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  for split in ("train", "val", "test"):
    r = report["splits"][split]
    fakes = sum(1 for rec in _records(builder, split) if rec["label"] == 1)
    assert r["fakes_with_target_track"] == fakes and r["fakes_with_own_track"] == 0
  records = {(r["method"], r["video_id"]): r for r in _records(builder, "train")}
  for (method, _), rec in records.items():
    if method != "original":
      real = records[("original", rec["target_id"])]
      np.testing.assert_allclose(rec["landmarks"], real["landmarks"], atol=1e-4)
      np.testing.assert_array_equal(rec["frame_indices"], real["frame_indices"])


def test_index_file_describes_every_record(tiny_dataset, monkeypatch):
  builder, _ = tiny_dataset
  index = json.loads((Path(builder.data_dir) / "ddf_index.json").read_text())["splits"]
  for split in ("train", "val", "test"):
    records = _records(builder, split)
    assert [e["video_id"] for e in index[split]] == [r["video_id"] for r in records]
    for e, r in zip(index[split], records, strict=True):
      assert e["label"] == r["label"] and e["method"] == r["method"]
      assert e["frame_indices"] == r["frame_indices"].tolist()
      assert e["face_found"] == r["face_found"].tolist()
  source = RecordSource(builder, "train")

  def no_reading(*args):
    raise AssertionError("a record was decoded to learn the labels")

  monkeypatch.setattr(RecordSource, "__getitem__", no_reading)
  assert source.labels().tolist() == [e["label"] for e in index["train"]]


def _two_face_frames(num_frames: int = 6, hide_left: bool = False) -> np.ndarray:
  """Frames with two people: the astronaut (left, larger face) and the cameraman (right)."""
  import skimage

  left = skimage.data.astronaut()[0:320, 100:340]
  right = np.repeat(skimage.data.camera()[60:380, 120:360, None], 3, axis=-1)
  frame = np.concatenate([left, right], axis=1)
  if hide_left:  # a fake whose left face the detector no longer finds
    frame = frame.copy()
    frame[40:200, 60:190] = 128
  return np.repeat(frame[None], num_frames, axis=0)


@pytest.mark.slow  # generates and builds its own tree
def test_a_fake_shows_the_same_face_as_its_target(tmp_path):
  from ddf.data import ffpp_examples
  from ddf.data.ffpp_layout import VideoEntry

  real_path, fake_path = tmp_path / "000.mp4", tmp_path / "000_001.mp4"
  write_video(real_path, _two_face_frames())
  write_video(fake_path, _two_face_frames(hide_left=True))
  options = ffpp_examples.ExampleOptions(
    frames_per_video=4, crop_size=64, sampling="windows", num_windows=1
  )
  real = ffpp_examples.make_example(
    VideoEntry("000", 0, "original", "c23", "000", "000", real_path), options
  )
  fake_entry = VideoEntry("000_001", 1, "Deepfakes", "c23", "000", "001", fake_path)
  with_target = ffpp_examples.make_example(fake_entry, options, real.track)
  alone = ffpp_examples.make_example(fake_entry, options, None)
  assert real.example is not None and real.track is not None
  left_x = real.track.landmarks[..., 0].mean()
  assert left_x < 240  # the tracker keeps the larger (left) face of the real video
  assert with_target.face_source == "target"
  np.testing.assert_allclose(with_target.example["landmarks"], real.example["landmarks"], atol=1e-4)
  # Cropped with the target's track, the fake shows the (hidden) left face's place; tracked on
  # its own it would show the other person.
  assert alone.face_source == "detected" and "not built" in alone.own_track_reason

  def centre_grey(result):
    from ddf.data.ffpp_examples import decode_jpeg

    crop = decode_jpeg(result.example["frames"][0]).astype(np.float32)
    return float(np.abs(crop[24:40, 24:40] - 128).mean())

  assert centre_grey(with_target) < 8 and centre_grey(real) > 20 and centre_grey(alone) > 20


def test_detect_every_stores_the_faces_of_detecting_every_frame(tiny_tree, monkeypatch):
  """A build option that only saves work: with detect_every=3 the full detector sees 4 of the 8
  stored frames of a real video (key frames 0 and 3 of each window of 4), and the stored
  landmarks are within 2 px of detecting every frame."""
  from ddf.data.ffpp_layout import VideoEntry

  (path,) = sorted((tiny_tree / "original_sequences/youtube/c23/videos").glob("*.mp4"))[:1]
  entry = VideoEntry(path.stem, 0, "original", "c23", path.stem, path.stem, path)
  from ddf.faces.mtcnn import MTCNN

  counts = []
  full_detect = MTCNN.detect

  def counting_detect(self, images, **kwargs):
    counts.append(len(images))
    return full_detect(self, images, **kwargs)

  monkeypatch.setattr(MTCNN, "detect", counting_detect)
  stored, detected = {}, {}
  for k in (1, 3):
    options = ffpp_examples.ExampleOptions(
      frames_per_video=8, crop_size=64, sampling="windows", num_windows=2, detect_every=k
    )
    counts.clear()
    result = ffpp_examples.make_example(entry, options)
    assert result.example is not None, result.skipped
    stored[k], detected[k] = result.track, sum(counts)
  assert detected == {1: 8, 3: 4}
  assert stored[3].face_found.all() and stored[1].face_found.all()
  err = np.abs(stored[3].landmarks - stored[1].landmarks)
  assert err.max() < 2.0, err.max()


def test_fake_with_other_frame_count_gets_its_own_track(tmp_path):
  from ddf.data import ffpp_examples
  from ddf.data.ffpp_layout import VideoEntry

  real_path, fake_path = tmp_path / "000.mp4", tmp_path / "000_001.mp4"
  write_video(real_path, _two_face_frames(6))
  write_video(fake_path, _two_face_frames(7))
  options = ffpp_examples.ExampleOptions(
    frames_per_video=4, crop_size=64, sampling="windows", num_windows=1
  )
  real = ffpp_examples.make_example(
    VideoEntry("000", 0, "original", "c23", "000", "000", real_path), options
  )
  fake = ffpp_examples.make_example(
    VideoEntry("000_001", 1, "Deepfakes", "c23", "000", "001", fake_path), options, real.track
  )
  assert fake.face_source == "detected"
  assert "6 frames" in fake.own_track_reason and "7" in fake.own_track_reason


def test_worker_processes_are_single_threaded_on_cpu(tiny_tree, tmp_path):
  builder = build.get_builder(
    tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=2, num_windows=1
  )
  build.build(builder, _subset_tree(tiny_tree, tmp_path / "manual"))
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  workers = report["workers"]
  # A pool of 2; only processes that built a video report, and under load one of them can build
  # every video of this small tree before the other starts.
  assert 1 <= len(workers) <= 2
  for w in workers:
    assert w["pid"] != os.getpid()  # built in worker processes, not here
    assert w["platform"] == "cpu" and w["cv2_threads"] == 1
    assert "--xla_cpu_multi_thread_eigen=false" in w["xla_flags"]
    assert "intra_op_parallelism_threads=1" in w["xla_flags"]
    assert 50 < w["peak_rss_mb"] < 4000
  assert report["peak_rss_mb_per_worker"] == max(w["peak_rss_mb"] for w in workers)


class _Preempted(Exception):
  pass


def test_interrupted_build_reruns_only_the_unfinished_videos(
  tiny_tree, tiny_dataset, tmp_path, monkeypatch
):
  manual = _subset_tree(tiny_tree, tmp_path / "manual")  # 30 videos: 6 reals, 24 fakes
  make = ffpp_examples.make_example
  calls = []

  def preempted_after(n):
    def make_example(entry, options, target=None):
      if len(calls) == n:
        raise _Preempted(f"preempted after {n} videos")
      calls.append(entry.key)
      return make(entry, options, target)

    return make_example

  def builder(name):
    return build.get_builder(
      tmp_path / name, "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=1, num_windows=1
    )

  monkeypatch.setattr(ffpp_examples, "make_example", preempted_after(12))
  first = builder("tfds")
  with pytest.raises(Exception, match="preempted after 12"):
    build.build(first, manual)
  assert not first.data_path.exists()
  cache = Path(first.data_dir).parent / f"{first.version}.{video_beam.CACHE_SUFFIX}"
  assert len(list(cache.glob("*.pkl"))) == 12

  calls.clear()
  monkeypatch.setattr(ffpp_examples, "make_example", preempted_after(10_000))
  rerun = builder("tfds")
  build.build(rerun, manual)
  assert len(calls) == 30 - 12  # only what the first run had not finished
  assert not cache.exists()
  report = json.loads((Path(rerun.data_dir) / REPORT_NAME).read_text())
  assert sum(s["reused_from_interrupted_build"] for s in report["splits"].values()) == 12
  assert sum(s["built"] for s in report["splits"].values()) == 30

  clean, _ = tiny_dataset  # the whole tree, same options, never interrupted: the same examples
  for split in ("train", "val", "test"):
    resumed, whole = _records_by_key(rerun, split), _records_by_key(clean, split)
    assert len(resumed) == 10 and resumed == {k: whole[k] for k in resumed}, split


def test_beam_options_local_by_default_else_as_given(monkeypatch):
  monkeypatch.setattr(os, "cpu_count", lambda: 3)
  runner, workers = video_beam.describe(video_beam.pipeline_options(None, 0, False))
  assert (runner, workers) == ("DirectRunner", "3 (multi_processing, 3 processes)")
  one = video_beam.pipeline_options(None, 4, True)  # the accelerator: one process owns it
  assert video_beam.describe(one) == ("DirectRunner", "1 (this process)")
  assert video_beam.runs_in_this_process(one)
  given = video_beam.pipeline_options(
    "runner=FlinkRunner,--flink_master=host:8081,environment_type=DOCKER,max_num_workers=64",
    0,
    False,
  )
  assert video_beam.describe(given) == ("FlinkRunner", "max_num_workers=64")
  assert not video_beam.runs_in_this_process(given)
  flags = given.get_all_options(drop_default=True)
  assert flags["flink_master"] == "host:8081" and flags["environment_type"] == "DOCKER"


def test_a_download_in_a_bucket_builds_like_a_local_one(
  tiny_tree, tiny_dataset, bucket, tmp_path, monkeypatch
):
  import tempfile

  from etils import epath

  from ddf.data.video import VideoError, read_frames

  local = _subset_tree(tiny_tree, tmp_path / "manual")
  remote = epath.Path(bucket) / "FaceForensics++"
  for path in sorted(p for p in local.rglob("*") if p.is_file()):
    (remote / path.relative_to(local).as_posix()).write_bytes(path.read_bytes())
  a, b = read_split_pairs(local, "val")[0]
  missing = remote / "manipulated_sequences/FaceSwap/c23/videos" / f"{b}_{a}.mp4"
  missing.unlink()
  with pytest.raises(VideoError, match=re.escape(f"Video file not found: '{missing}'")):
    read_frames(str(missing), 4)

  builder = build.get_builder(
    tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=1, num_windows=1
  )
  copies = []  # the local copies a worker decodes (in this process: one worker, in memory)
  mkstemp = tempfile.mkstemp

  def recording_mkstemp(*args, **kwargs):
    fd, path = mkstemp(*args, **kwargs)
    copies.append(path)
    return fd, path

  monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
  build.build(builder, str(remote))
  videos = [c for c in copies if os.path.basename(c).startswith("ddf_video_")]
  assert len(videos) == 29 and not any(os.path.exists(c) for c in videos)  # 30 listed, 1 gone
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  assert report["manual_dir"] == str(remote)
  assert report["splits"]["val"]["missing_files"] == [str(missing)]
  assert report["splits"]["train"]["missing"] == report["splits"]["test"]["missing"] == 0
  # Every video of the bucket's splits stored exactly as the local build of the whole tree did.
  local_build, _ = tiny_dataset
  for split in ("train", "val", "test"):
    got = _records_by_key(builder, split)
    want = _records_by_key(local_build, split)
    gone = {("FaceSwap", f"{b}_{a}")} if split == "val" else set()
    assert set(got) == _expected(local, split) - gone
    for key, record in got.items():
      assert record == want[key], (split, key)


def test_output_in_a_bucket_stops_before_any_video_is_decoded(
  tiny_tree, bucket, monkeypatch, capsys
):
  """array_record 0.8.6 writes its shards with the local file API only, so a build into a bucket
  would fail at its first shard, after decoding every video. Both routes stop first: the build
  command before it touches the bucket, TFDS's own route (`tfds build`: the builder) before its
  first video, each naming the bucket and the way out."""
  from ddf.data import video

  def no_decoding(*args, **kwargs):
    raise AssertionError("a video was decoded")

  monkeypatch.setattr(video, "read_frames", no_decoding)
  data_dir = f"{bucket}/tfds"
  options = ["--config", "c23", "--num_windows", "1", "--workers", "1"]
  options += ["--frames_per_video", str(TINY_FRAMES_PER_VIDEO), "--crop_size", str(TINY_CROP)]
  assert build_command.main(["--manual_dir", str(tiny_tree), "--data_dir", data_dir, *options]) == 2
  err = capsys.readouterr().err
  assert f"array_record cannot write dataset shards to {data_dir}" in err and "gcsfuse" in err
  builder = build.get_builder(
    data_dir, "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=1, num_windows=1
  )
  with pytest.raises(ValueError, match="array_record cannot write dataset shards to gs://"):
    build.build(builder, tiny_tree)


def test_videos_per_batch_detects_reals_together_and_stores_the_same_faces(tiny_tree, tmp_path):
  """`videos_per_batch=3`: the reals' faces are detected in shared batches of up to 3 videos (a
  corrupt and a faceless real among them, each skipped alone); the records, landmarks within
  float rounding, and the report are those of detecting video by video; and the groups are
  fixed, so 1 and 2 workers store the same examples."""
  from ddf.faces.pipeline import FacePipeline

  manual = _subset_tree(tiny_tree, tmp_path / "manual", pairs_per_split=2)
  (_, b), (c, _) = read_split_pairs(manual, "train")[:2]
  videos = manual / "original_sequences/youtube/c23/videos"
  _spoil(videos / f"{b}.mp4", videos / f"{c}.mp4")

  calls = []
  detect_many = FacePipeline.detect_many

  def counting(self, videos):
    calls.append(len(videos))
    return detect_many(self, videos)

  def make(name, group, workers):
    builder = build.get_builder(
      tmp_path / name,
      "c23",
      TINY_FRAMES_PER_VIDEO,
      TINY_CROP,
      num_workers=workers,
      num_windows=1,
      videos_per_batch=group,
    )
    build.build(builder, manual)
    return builder

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(FacePipeline, "detect_many", counting)
    alone = make("alone", 1, 1)
    assert calls and max(calls) == 1
    calls.clear()
    grouped = make("grouped", 3, 1)
  assert max(calls) > 1  # several videos' frames in one detector batch
  for split in ("train", "val", "test"):
    one, together = _records_by_key(alone, split), _records_by_key(grouped, split)
    assert one.keys() == together.keys() and one
    for key, record in one.items():
      other = together[key]
      np.testing.assert_allclose(record["landmarks"], other["landmarks"], atol=0.05)
      assert record["face_found"] == other["face_found"]
      for x, y in zip(record["frames"], other["frames"], strict=True):
        diff = np.abs(
          ffpp_examples.decode_jpeg(x).astype(int) - ffpp_examples.decode_jpeg(y).astype(int)
        )
        assert diff.mean() < 0.5, (key, diff.mean())
  reports = [json.loads((Path(x.data_dir) / REPORT_NAME).read_text()) for x in (alone, grouped)]
  assert reports[1]["videos_per_batch"] == 3 and reports[0]["videos_per_batch"] == 1
  train = reports[1]["splits"]["train"]
  assert "unreadable" in train["skipped_files"][f"original/{b}"]
  assert "no face" in train["skipped_files"][f"original/{c}"]
  assert [r["splits"] for r in reports] == [reports[0]["splits"]] * 2

  on_two = make("grouped2", 3, 2)
  for split in ("train", "val", "test"):
    assert _records_by_key(grouped, split) == _records_by_key(on_two, split)
