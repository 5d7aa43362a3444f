"""Tests for the synthetic FF++-format generator (ddf.data.synthetic)."""

import glob
import json
import os

import numpy as np
import pytest

from ddf.data import synthetic as synthetic_cli
from ddf.data import synthetic_lib as synthetic
from ddf.data.video import read_frames

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
SIZE, FRAMES = 96, 8


# The module's tree: 2/1/1 pairs, every method, three compressions, identity-disjoint photos.
TREE_OPTIONS = dict(
  pairs=(2, 1, 1),
  methods=METHODS,
  compressions=("raw", "c23", "c40"),
  size=SIZE,
  num_frames=FRAMES,
  seed=0,
  photos="disjoint",
  workers=1,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("ffpp"))
  report = synthetic.generate(out, **TREE_OPTIONS)
  return out, report


def _rel_videos(root):
  return sorted(
    os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "**", "*.mp4"), recursive=True)
  )


def test_layout_and_splits(tree):
  root, report = tree
  splits = {}
  for name in ("train", "val", "test"):
    with open(os.path.join(root, "splits", f"{name}.json")) as f:
      splits[name] = json.load(f)
  # Official format: list of 2-element lists of 3-digit zero-padded strings.
  for pairs in splits.values():
    assert isinstance(pairs, list)
    for p in pairs:
      assert isinstance(p, list) and len(p) == 2
      assert all(isinstance(i, str) and len(i) == 3 and i.isdigit() for i in p)
      assert p[0] != p[1]
  assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 1, 1]
  ids = {s: {i for p in splits[s] for i in p} for s in splits}
  assert len(ids["train"]) == 4 and len(ids["val"]) == 2 and len(ids["test"]) == 2
  assert (
    not (ids["train"] & ids["val"])
    and not (ids["train"] & ids["test"])
    and not (ids["val"] & ids["test"])
  )

  expected = []
  for comp in ("raw", "c23", "c40"):
    for s in splits.values():
      for a, b in s:
        expected += [
          f"original_sequences/youtube/{comp}/videos/{a}.mp4",
          f"original_sequences/youtube/{comp}/videos/{b}.mp4",
        ]
        for m in METHODS:
          expected += [
            f"manipulated_sequences/{m}/{comp}/videos/{a}_{b}.mp4",
            f"manipulated_sequences/{m}/{comp}/videos/{b}_{a}.mp4",
          ]
  assert _rel_videos(root) == sorted(expected)
  # 8 reals + 32 fakes per compression.
  assert report.counts["original"] == {"raw": 8, "c23": 8, "c40": 8}
  assert all(report.counts[m] == {"raw": 8, "c23": 8, "c40": 8} for m in METHODS)
  assert report.num_videos == 120 and report.written == 120
  assert report.splits == splits
  with open(os.path.join(root, "synthetic_meta.json")) as f:
    meta = json.load(f)
  assert meta["complete"] and meta["params"]["size"] == SIZE and meta["params"]["seed"] == 0


def test_videos_decode(tree):
  root, _ = tree
  paths = _rel_videos(root)
  for rel in paths[:: len(paths) // 6]:
    v = read_frames(os.path.join(root, rel), FRAMES)
    assert v.frames.shape == (FRAMES, SIZE, SIZE, 3)
    assert v.total_frames == FRAMES and not v.short
    assert v.fps == pytest.approx(25.0)
    assert v.frames.std() > 10  # not blank


def test_annotations(tree):
  root, _ = tree
  with open(os.path.join(root, "synthetic_annotations.json")) as f:
    ann = json.load(f)
  assert len(ann) == 8
  boxes = np.array(ann["000"]["boxes"])
  assert boxes.shape == (FRAMES, 4) and np.array(ann["000"]["landmarks"]).shape == (FRAMES, 5, 2)
  h = boxes[:, 3] - boxes[:, 1]
  assert (h > 0.3 * SIZE).all() and (boxes[:, :2] > -5).all() and (boxes[:, 2:] < SIZE + 5).all()


def _box_mask(box, size, grow=1.15):
  x0, y0, x1, y1 = box
  cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * grow, (y1 - y0) * grow
  yy, xx = np.mgrid[0:size, 0:size]
  return (np.abs(xx - cx) < w / 2) & (np.abs(yy - cy) < h / 2)


@pytest.mark.parametrize("method", METHODS)
def test_fake_differs_inside_face(tree, method):
  root, report = tree
  with open(os.path.join(root, "synthetic_annotations.json")) as f:
    ann = json.load(f)
  t, s = report.splits["train"][0]
  real = read_frames(synthetic.real_path(root, "raw", t), FRAMES).frames.astype(np.float32)
  fake = read_frames(synthetic.fake_path(root, method, "raw", t, s), FRAMES).frames.astype(
    np.float32
  )
  diff = np.abs(real - fake).mean(-1)
  inside, outside = [], []
  for f in range(FRAMES):
    m = _box_mask(ann[t]["boxes"][f], SIZE)
    inside.append(diff[f][m].mean())
    outside.append(diff[f][~m].mean())
  inside, outside = np.mean(inside), np.mean(outside)
  assert inside > 1.0, (method, inside)
  assert inside > 4 * outside, (method, inside, outside)


def _psnr(a, b):
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def test_compression_ordering(tree):
  root, report = tree
  t, s = report.splits["val"][0]
  for get in (
    lambda c: synthetic.real_path(root, c, t),
    lambda c: synthetic.fake_path(root, "Deepfakes", c, t, s),
  ):
    raw, c23, c40 = (read_frames(get(c), FRAMES).frames for c in ("raw", "c23", "c40"))
    p23, p40 = _psnr(raw, c23), _psnr(raw, c40)
    assert p23 > p40 + 2.0, (p23, p40)
    assert p23 < 60  # c23 is degraded at all


def test_idempotent_and_param_check(tree):
  root, _ = tree
  kw = dict(TREE_OPTIONS)
  again = synthetic.generate(root, **kw)
  assert again.written == 0 and again.num_videos == 120
  with pytest.raises(ValueError, match="other parameters"):
    synthetic.generate(root, **{**kw, "seed": 1})


def test_rejects_bad_args(tmp_path):
  with pytest.raises(ValueError, match="DeepFakeDetection"):
    synthetic.generate(tmp_path, methods=("DeepFakeDetection",), pairs=(1, 0, 0))
  with pytest.raises(ValueError, match="compression"):
    synthetic.generate(tmp_path, compressions=("c99",), pairs=(1, 0, 0))


def _decoded(root, rels):
  return [read_frames(os.path.join(root, r), None).frames for r in rels]


@pytest.mark.parametrize("photos", ["shared", "disjoint"])
def test_determinism_across_workers_and_seeds(tmp_path, capsys, photos):
  kw = dict(
    pairs=(1, 0, 0), methods=("Deepfakes", "FaceSwap"), size=SIZE, num_frames=FRAMES, photos=photos
  )
  a = synthetic.generate(tmp_path / "a", seed=3, workers=1, **kw)
  # Same seed through the CLI with 2 worker processes.
  assert (
    synthetic_cli.main(
      [
        "--out",
        str(tmp_path / "b"),
        "--pairs",
        "1",
        "0",
        "0",
        "--methods",
        "Deepfakes",
        "FaceSwap",
        "--size",
        str(SIZE),
        "--frames",
        str(FRAMES),
        "--seed",
        "3",
        "--workers",
        "2",
        "--photos",
        photos,
        "--quiet",
      ]
    )
    == 0
  )
  assert "videos" in capsys.readouterr().out
  c = synthetic.generate(tmp_path / "c", seed=4, workers=1, **kw)
  rels = _rel_videos(tmp_path / "a")
  assert len(rels) == 6 and rels == _rel_videos(tmp_path / "b")
  for r in rels:
    assert (tmp_path / "a" / r).read_bytes() == (tmp_path / "b" / r).read_bytes(), r
  fa = _decoded(tmp_path / "a", rels[:3])
  fb = _decoded(tmp_path / "b", rels[:3])
  for x, y in zip(fa, fb, strict=True):
    np.testing.assert_array_equal(x, y)
  # A different seed gives different videos (same file names: ids are assigned in order).
  assert sorted(a.splits["train"][0]) == ["000", "001"] and c.num_videos == 6
  assert _rel_videos(tmp_path / "c") == rels
  for r in rels:
    x = read_frames(tmp_path / "a" / r, None).frames.astype(np.float32)
    y = read_frames(tmp_path / "c" / r, None).frames.astype(np.float32)
    assert np.abs(x - y).mean() > 5, r


def test_cli_names_differing_setting_and_flag(tmp_path, capsys):
  out = str(tmp_path / "tiny")
  kw = dict(pairs=(1, 1, 1), methods=("Deepfakes",), size=64, num_frames=2, workers=1)
  synthetic.generate(out, difficulty=0.5, **kw)
  args = ["--out", out, "--pairs", "1", "1", "1", "--methods", "Deepfakes", "--size", "64"]
  args += ["--frames", "2", "--workers", "1", "--quiet"]
  assert synthetic_cli.main([*args, "--difficulty", "0.7", "--seed", "3"]) == 2
  err = capsys.readouterr().err
  assert "--difficulty 0.5 (tree) vs 0.7 (asked)" in err and "--seed 0 (tree) vs 3 (asked)" in err
  assert "--overwrite" in err and "--out" in err and "overwrite=True" not in err
  assert "--size" not in err and "--pairs" not in err  # only the settings that differ
  assert len(err.strip().splitlines()) == 1
  assert (
    synthetic_cli.main([*args, "--difficulty", "0.7", "--overwrite"]) == 0
  )  # the named fix works
  assert "videos" in capsys.readouterr().out


# ------------------------------------------------------------------------ identity-disjoint pool


def test_splits_share_no_source_photo(tree):
  root, report = tree
  with open(os.path.join(root, synthetic.ANNOTATIONS_FILE)) as f:
    photo_of = {vid: a["photo"] for vid, a in json.load(f).items()}
  used = {
    name: {photo_of[i] for pair in pairs for i in pair} for name, pairs in report.splits.items()
  }
  assert used["train"].isdisjoint(used["val"]) and used["train"].isdisjoint(used["test"])
  assert used["val"].isdisjoint(used["test"])
  for pairs in report.splits.values():  # the two identities of a pair are two photos
    assert all(photo_of[a] != photo_of[b] for a, b in pairs)


def test_photo_pool_is_every_shipped_face_dealt_without_overlap():
  from ddf.data import synthetic_photos as sp

  photos = sp.shipped_photos()
  names = [p.name for p in photos]
  assert len(names) == len(set(names)) >= 100
  assert {"skimage:astronaut", "skimage:camera", "matplotlib:grace_hopper"} <= set(names)
  for weights in ((80, 20, 40), (4, 2, 2), (1, 0, 1)):
    groups = sp.split_photos(photos, weights, seed=0)
    got = [g.name for group in groups for g in group]
    assert sorted(got) == sorted(names)  # every photo, each once
    for w, group in zip(weights, groups, strict=True):
      assert (len(group) >= 2) if w else not group
    share = len(groups[0]) / len(photos)
    assert abs(share - weights[0] / sum(weights)) < 0.05


def test_stored_landmarks_are_what_the_detector_finds():
  from ddf.data import synthetic_photos as sp

  names = ["matplotlib:grace_hopper", "skimage:astronaut", "lfw:000", "lfw:050", "lfw:099"]
  found = sp.detect_landmarks(names)
  for name in names:
    err = np.abs(np.asarray(found[name]) - np.asarray(sp.SHIPPED_LANDMARKS[name])).max()
    assert err < 1.0, (name, err)


def _face_patch(frame: np.ndarray, lm: np.ndarray, ref_lm: np.ndarray, side: int = 48):
  """Grey inner face (eyes to mouth, between the eyes' outer corners) of `frame` warped so that its
  landmarks `lm` land on `ref_lm` (a 48 px template), standardised to zero mean and unit
  variance."""
  import cv2

  m, _ = cv2.estimateAffinePartial2D(lm.astype(np.float32), ref_lm.astype(np.float32))
  grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
  patch = cv2.warpAffine(grey, m, (side, side), flags=cv2.INTER_AREA)[14:38, 14:34]
  return (patch - patch.mean()) / (patch.std() + 1e-6)


@pytest.mark.parametrize("method", ["Deepfakes", "FaceSwap", "FaceShifter"])
def test_a_swap_fake_wears_the_source_identitys_face(tmp_path, method):
  out = tmp_path / "swap"
  synthetic.generate(out, pairs=(0, 0, 2), methods=(method,), compressions=("raw",), size=160,
                     num_frames=2, seed=1, photos="disjoint", workers=1)  # fmt: skip
  with open(out / synthetic.ANNOTATIONS_FILE) as f:
    ann = json.load(f)
  with open(out / "splits" / "test.json") as f:
    pairs = json.load(f)
  # Inner-face template: eyes at (16, 18) / (32, 18), mouth corners at (18, 34) / (30, 34).
  ref = np.array([[16, 18], [32, 18], [24, 26], [18, 34], [30, 34]], np.float32)
  for target, source in [tuple(p) for p in pairs] + [tuple(p[::-1]) for p in pairs]:
    fake = read_frames(synthetic.fake_path(str(out), method, "raw", target, source)).frames[0]
    real_t = read_frames(synthetic.real_path(str(out), "raw", target)).frames[0]
    real_s = read_frames(synthetic.real_path(str(out), "raw", source)).frames[0]
    lm_t = np.asarray(ann[target]["landmarks"][0])
    lm_s = np.asarray(ann[source]["landmarks"][0])
    f, t, s = (
      _face_patch(fake, lm_t, ref),
      _face_patch(real_t, lm_t, ref),
      _face_patch(real_s, lm_s, ref),
    )
    like_source, like_target = float((f * s).mean()), float((f * t).mean())
    assert like_source > like_target + 0.1, (target, source, like_source, like_target)


def test_camera_settings_vary_per_video_and_zero_is_the_fixed_camera():
  from ddf.data import synthetic_camera

  fixed = synthetic_camera.make_camera(0, 7, 12, 0.0)
  np.testing.assert_array_equal(fixed.white_balance, np.ones([12, 3], np.float32))
  assert (fixed.blur_sigma, fixed.sharpen, fixed.noise) == (0.0, 0.0, 1.2 / 255.0)
  img = np.random.default_rng(0).random([16, 16, 3]).astype(np.float32)
  np.testing.assert_array_equal(fixed.develop(3, img), img)
  cams = [synthetic_camera.make_camera(0, vid, 12, 1.0) for vid in range(40)]
  again = synthetic_camera.make_camera(0, 5, 12, 1.0)
  np.testing.assert_array_equal(again.white_balance, cams[5].white_balance)
  assert again.noise == cams[5].noise
  soft = [c.blur_sigma > 0 for c in cams]
  sharp = [c.sharpen > 0 for c in cams]
  assert 5 < sum(soft) < 35 and 5 < sum(sharp) < 35
  assert not any(np.logical_and(soft, sharp))
  wb = np.stack([c.white_balance for c in cams])  # [40, 12, 3]
  assert 0.02 < wb.mean(1).std(0).min() and np.abs(wb - 1).max() < 0.2
  assert wb.std(1).max() > 0.003  # the white balance drifts within a video
  noise = [c.noise * 255 for c in cams]
  assert 0.6 <= min(noise) and max(noise) <= 4.2 and np.std(noise) > 0.4


def test_camera_changes_every_video_and_a_fake_inherits_its_targets(tmp_path):
  kw = dict(pairs=(1, 0, 0), methods=("FaceSwap",), compressions=("raw",), size=SIZE,
            num_frames=4, seed=2, photos="disjoint", workers=1)  # fmt: skip
  synthetic.generate(tmp_path / "fixed", **kw)
  report = synthetic.generate(tmp_path / "camera", camera=1.0, **kw)
  with open(tmp_path / "camera" / synthetic.META_FILE) as f:
    assert json.load(f)["params"]["camera"] == 1.0
  with open(tmp_path / "fixed" / synthetic.META_FILE) as f:
    assert "camera" not in json.load(f)["params"]  # older trees keep their settings and folder
  target, source = report.splits["train"][0]
  for vid in (target, source):
    a = read_frames(synthetic.real_path(str(tmp_path / "fixed"), "raw", vid)).frames
    b = read_frames(synthetic.real_path(str(tmp_path / "camera"), "raw", vid)).frames
    assert np.abs(a.astype(np.float32) - b).mean() > 1.0, vid
  # Away from the face the fake is its target's real video, camera and all.
  real = read_frames(synthetic.real_path(str(tmp_path / "camera"), "raw", target)).frames
  fake = read_frames(
    synthetic.fake_path(str(tmp_path / "camera"), "FaceSwap", "raw", target, source)
  ).frames
  corner = (slice(None), slice(0, 12), slice(0, 12))
  other = read_frames(synthetic.real_path(str(tmp_path / "camera"), "raw", source)).frames
  assert np.abs(real[corner].astype(np.float32) - fake[corner]).mean() < 1.0
  assert np.abs(real[corner].astype(np.float32) - other[corner]).mean() > 3.0


def test_a_morph_lies_between_its_parents_where_the_detector_finds_it():
  from ddf.data import synthetic_morph as morphs
  from ddf.data import synthetic_photos
  from ddf.faces.mtcnn import detect_faces

  photos = {p.name: p for p in synthetic_photos.shipped_photos()}
  a, b = photos["lfw:000"], photos["matplotlib:grace_hopper"]
  (img_a, lm_a), (img_b, lm_b) = morphs.align(a), morphs.align(b)
  np.testing.assert_allclose(lm_a, morphs.template(), atol=8.0)  # aligned by a similarity
  m = morphs.morph(a, b, 0.4)
  assert m.name == "morph:lfw:000+matplotlib:grace_hopper:0.40"
  assert morphs.parents(m.name) == ["lfw:000", "matplotlib:grace_hopper"]
  assert morphs.parents("lfw:007") == ["lfw:007"]
  np.testing.assert_allclose(m.landmarks, 0.6 * lm_a + 0.4 * lm_b, atol=1e-4)
  # Weight 0 is the first parent, aligned; a morph is like neither parent.
  np.testing.assert_allclose(morphs.morph(a, b, 0.0).image, img_a, atol=2.0)
  face = (slice(90, 170), slice(85, 155))
  for parent in (img_a, img_b):
    assert np.abs(m.image[face].astype(np.float32) - parent[face]).mean() > 5.0
  found = detect_faces(m.image[None], min_face_size=40)[0]
  assert len(found) and np.abs(found.landmarks[0] - m.landmarks).max() < 6.0


def test_morphed_pool_gives_each_id_its_own_identity_from_its_splits_photos():
  from ddf.data import synthetic_morph as morphs

  pairs = (50, 2, 2)  # 108 ids, 101 photos
  disjoint = synthetic._photo_assignment((), pairs, 0, "disjoint")
  morphed = synthetic._photo_assignment((), pairs, 0, "morphed")
  splits = synthetic.make_splits(pairs, 0)
  sources = {}
  for name, split_pairs in splits.items():
    ids = [int(i) for pair in split_pairs for i in pair]
    names = [morphed[i][0][morphed[i][1]].name for i in ids]
    assert len(set(names)) == len(ids), name  # no identity twice in a split
    own = {p.name for p in disjoint[ids[0]][0]}  # the split's dealt photos
    sources[name] = {s for n in names for s in morphs.parents(n)}
    assert sources[name] <= own, name
  assert any(n.startswith("morph:") for i, (g, k) in morphed.items() for n in [g[k].name])
  assert sources["train"].isdisjoint(sources["val"] | sources["test"])
  assert sources["val"].isdisjoint(sources["test"])
  again = synthetic._photo_assignment.__wrapped__((), pairs, 0, "morphed")
  assert [g[k].name for g, k in again.values()] == [g[k].name for g, k in morphed.values()]


def test_morph_pool_makes_each_morph_once_and_only_when_asked(monkeypatch):
  """A generator worker renders a few identities: the pool must not morph every pair up front."""
  from ddf.data import synthetic_morph as morphs

  made = []
  monkeypatch.setattr(morphs, "morph", lambda a, b, w: made.append((a, b, w)) or f"{a}+{b}")
  pool = morphs.extend(["p0", "p1", "p2"], 5, np.random.default_rng(0))
  assert len(pool) == 5 and made == []
  assert pool[1] == "p1" and made == []
  first = pool[4]
  assert len(made) == 1 and pool[4] == first and pool[-1] == first and len(made) == 1
  assert set(first.split("+")) < {"p0", "p1", "p2"} and 0.35 <= made[0][2] <= 0.65
  with pytest.raises(IndexError):
    pool[5]
  assert len(morphs.extend(["p0", "p1"], 2, np.random.default_rng(0))) == 2


def test_a_fake_made_after_capture_is_its_filmed_real_outside_the_mask_and_grey_noise_inside():
  """capture="after": the filmed real frame where the hook's mask is 0; inside, the generated
  face with the video's white balance, no camera focus, and grey noise of the given std."""
  import cv2

  from ddf.data import synthetic_camera
  from ddf.data import synthetic_faces as faces

  size, n = 128, 3
  photos = faces.builtin_photos()
  ident = faces.make_identity(photos, 0, 3, size)
  motion = faces.make_motion(0, 3, n, 25.0, size)
  wb = np.tile(np.array([[1.05, 1.0, 0.9]], np.float32), (n, 1))
  camera = synthetic_camera.Camera(wb, blur_sigma=1.5, sharpen=0.0, noise=3.0 / 255)
  r = ident.portrait.shape[0]
  mask = np.zeros((r, r), np.float32)
  cv2.circle(mask, tuple(int(v) for v in faces.face_center(ident.landmarks)), r // 6, 1.0, -1)
  flat = np.full_like(ident.portrait, 0.5)  # a flat grey face: focus would not change it ...

  def hook(f, por):  # after the blink / mouth animation, which would draw on the flat face
    return flat, mask

  real = faces.render(ident, motion, size, camera=camera).frames.astype(np.float32)
  quiet = faces.render(ident, motion, size, None, hook, camera, 0.0).frames.astype(np.float32)
  noisy = faces.render(ident, motion, size, None, hook, camera, 6.0 / 255).frames.astype(np.float32)
  before = faces.render(ident, motion, size, None, hook, camera).frames.astype(np.float32)
  for f in range(n):
    where = cv2.warpAffine(mask, faces.frame_transform(ident, motion, f), (size, size))
    outside, inside = where == 0, where > 0.999
    assert inside.sum() > 100 and outside.sum() > 100
    np.testing.assert_array_equal(quiet[f][outside], real[f][outside])
    np.testing.assert_array_equal(noisy[f][outside], real[f][outside])
    # ... so without generated noise the face is exactly grey 0.5, lit and white-balanced, with
    # no sensor noise ...
    level = 0.5 ** float(motion.gamma[f]) * float(motion.gain[f]) * wb[f] * 255
    assert np.abs(quiet[f][inside] - level).max() <= 1.0
    # ... (filmed after the manipulation, it carries the sensor's noise of std 3) ...
    assert (before[f][inside] - level).std(0).min() > 2.5
    # ... and the generator's noise has the asked std and is one value in R, G and B.
    grain = noisy[f][inside] - quiet[f][inside]
    assert 5.0 < grain.std(0).min() and grain.std(0).max() < 7.0
    assert np.abs(grain - grain.mean(1, keepdims=True)).max() <= 1.0


def test_generated_noise_is_weaker_or_stronger_than_the_sensors_never_alike():
  from ddf.data import synthetic_fakes as fakes

  ratios = np.array([fakes.generated_noise_ratio(np.random.default_rng(i)) for i in range(400)])
  weaker, stronger = ratios < 1, ratios > 1
  assert 150 < weaker.sum() < 250 and weaker.sum() + stronger.sum() == 400
  assert 0.40 <= ratios[weaker].min() and ratios[weaker].max() <= 0.71
  assert 1.41 <= ratios[stronger].min() and ratios[stronger].max() <= 2.46
  # log-symmetric: as far below 1 as above it, so the level has no one direction
  assert abs(np.log(ratios[weaker]).mean() + np.log(ratios[stronger]).mean()) < 0.05


def test_capture_after_reaches_the_fakes_and_leaves_the_reals(tmp_path):
  """`--capture after` is stored in the tree's settings, renders the reals exactly as `before`
  does, and changes only the fakes' face region."""
  kw = ["--pairs", "1", "0", "0", "--methods", "FaceSwap", "--compressions", "raw", "--size",
        str(SIZE), "--frames", "4", "--seed", "2", "--photos", "disjoint", "--camera", "1",
        "--workers", "1", "--quiet"]  # fmt: skip
  assert synthetic_cli.main(["--out", str(tmp_path / "before"), *kw]) == 0
  assert synthetic_cli.main(["--out", str(tmp_path / "after"), "--capture", "after", *kw]) == 0
  with open(tmp_path / "after" / synthetic.META_FILE) as f:
    assert json.load(f)["params"]["capture"] == "after"
  with open(tmp_path / "before" / synthetic.META_FILE) as f:
    assert "capture" not in json.load(f)["params"]  # older trees keep their settings and folder
  with open(tmp_path / "after" / "splits" / "train.json") as f:
    target, source = json.load(f)[0]
  for vid in (target, source):
    a, b = (read_frames(synthetic.real_path(str(tmp_path / t), "raw", vid)).frames
            for t in ("before", "after"))  # fmt: skip
    np.testing.assert_array_equal(a, b)
  before, after = (
    read_frames(synthetic.fake_path(str(tmp_path / t), "FaceSwap", "raw", target, source)).frames
    for t in ("before", "after")
  )
  real = read_frames(synthetic.real_path(str(tmp_path / "after"), "raw", target)).frames
  corner = (slice(None), slice(0, 12), slice(0, 12))
  assert np.abs(after[corner].astype(np.float32) - real[corner]).mean() < 1.0
  centre = (slice(None), slice(SIZE // 3, 2 * SIZE // 3), slice(SIZE // 3, 2 * SIZE // 3))
  assert np.abs(after[centre].astype(np.float32) - before[centre]).mean() > 1.0


def test_skin_texture_is_fine_fixed_to_the_head_and_removed_by_a_generators_resampling():
  """`with_skin_texture`: grey band-pass detail of the asked std inside the head matte, nothing
  outside it, the same for a seed; the down-up resampling and blur of a Deepfakes-like face
  (`synthetic_fakes.low_pass`) takes most of it away."""
  import cv2

  from ddf.data import synthetic_faces as faces
  from ddf.data import synthetic_fakes as fakes

  ident = faces.make_identity(faces.builtin_photos(), 0, 3, 128)
  amplitude = 0.01
  textured = faces.with_skin_texture(ident, amplitude, np.random.default_rng(7))
  again = faces.with_skin_texture(ident, amplitude, np.random.default_rng(7))
  np.testing.assert_array_equal(textured.portrait, again.portrait)
  added = textured.portrait - ident.portrait
  outside = ident.alpha == 0
  assert outside.sum() > 100
  assert np.abs(added[outside]).max() == 0
  unclipped = (ident.alpha > 0.999) & np.all((ident.portrait > 0.1) & (ident.portrait < 0.9), -1)
  assert unclipped.sum() > 1000
  texture = added[unclipped]
  np.testing.assert_allclose(texture[:, 0], texture[:, 2], atol=1e-6)  # grey: one value in R, G, B
  assert 0.6 * amplitude * 0.9 < texture.std() < 1.4 * amplitude * 1.1
  grey = added[..., 0]
  assert cv2.GaussianBlur(grey, (0, 0), 4.0)[unclipped].std() < 0.2 * texture.std()  # fine only
  resampled = fakes.low_pass(textured.portrait, 2.2, 1.0) - fakes.low_pass(ident.portrait, 2.2, 1.0)
  assert resampled[unclipped].std() < 0.4 * texture.std()


def test_skin_texture_option_is_stored_and_textures_the_reals(tmp_path):
  """`--skin_texture` is stored in the tree's settings only when set (older trees keep their
  folder), and it changes the filmed reals."""
  kw = ["--pairs", "1", "0", "0", "--methods", "FaceSwap", "--compressions", "raw", "--size",
        str(SIZE), "--frames", "2", "--seed", "2", "--photos", "disjoint", "--workers", "1",
        "--quiet"]  # fmt: skip
  assert synthetic_cli.main(["--out", str(tmp_path / "plain"), *kw]) == 0
  assert synthetic_cli.main(["--out", str(tmp_path / "skin"), "--skin_texture", "0.01", *kw]) == 0
  with open(tmp_path / "skin" / synthetic.META_FILE) as f:
    assert json.load(f)["params"]["skin_texture"] == 0.01
  with open(tmp_path / "plain" / synthetic.META_FILE) as f:
    assert "skin_texture" not in json.load(f)["params"]
  with open(tmp_path / "skin" / "splits" / "train.json") as f:
    target, _ = json.load(f)[0]
  plain, skin = (
    read_frames(synthetic.real_path(str(tmp_path / t), "raw", target)).frames.astype(np.float32)
    for t in ("plain", "skin")
  )
  corner = (slice(None), slice(0, 8), slice(0, 8))  # background: untouched
  assert np.abs(skin[corner] - plain[corner]).mean() < 1.0
  centre = (slice(None), slice(SIZE // 3, 2 * SIZE // 3), slice(SIZE // 3, 2 * SIZE // 3))
  assert np.abs(skin[centre] - plain[centre]).mean() > 1.0
  assert synthetic_cli.main(["--out", str(tmp_path / "bad"), "--skin_texture", "-1", *kw]) == 2
