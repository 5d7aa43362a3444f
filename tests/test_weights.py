"""Parity of ported modules vs Keras 3 (random weights) and the weight-import CLI.

Relative error: rel_err(a, b) = max|a - b| / max|b| with b the Keras output.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import flax.linen as nn
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddf import weights
from ddf import weights_lib as W
from ddf.models import BiLSTM, get_backbone

keras = pytest.importorskip("keras")
legacy_h5 = pytest.importorskip("keras.src.legacy.saving.legacy_h5_format")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras numpy-2 noise

TOL = 1e-4


def rel_err(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _save_both(model, directory, stem):
  legacy = os.path.join(directory, f"{stem}_notop.h5")
  with h5py.File(legacy, "w") as f:
    legacy_h5.save_weights_to_hdf5_group(f, model)
  k3 = os.path.join(directory, f"{stem}.weights.h5")
  model.save_weights(k3)
  return legacy, k3


def _keras_backbone(arch, tmp_path_factory):
  rng = np.random.default_rng(0)
  ctor, pre = {
    "resnet50": (keras.applications.ResNet50, keras.applications.resnet50.preprocess_input),
    "vgg16": (keras.applications.VGG16, keras.applications.vgg16.preprocess_input),
  }[arch]
  model = ctor(include_top=False, weights=None, input_shape=(224, 224, 3))
  for layer in model.layers:  # random BN statistics, so that BN is really tested
    if isinstance(layer, keras.layers.BatchNormalization):
      g, b, m, v = layer.get_weights()
      layer.set_weights(
        [
          rng.uniform(0.5, 1.5, g.shape),
          rng.normal(0, 0.2, b.shape),
          rng.normal(0, 0.2, m.shape),
          rng.uniform(0.5, 2.0, v.shape),
        ]
      )
  x = rng.uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
  ref = np.asarray(model.predict(pre(x.copy()), verbose=0))
  files = _save_both(model, str(tmp_path_factory.mktemp(arch)), arch)
  return x, ref, files


@pytest.fixture(scope="module")
def keras_vgg16(tmp_path_factory):
  return _keras_backbone("vgg16", tmp_path_factory)


_apply = jax.jit(lambda v, x, arch: get_backbone(arch).apply(v, x, train=False), static_argnums=2)


def _assert_same_tree(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)


@pytest.mark.slow  # compiles large models (seconds to minutes)
@pytest.mark.parametrize("arch", ["resnet50", "vgg16"])
def test_backbone_parity_with_keras(arch, tmp_path_factory, request):
  if arch == "vgg16":
    x, ref, (legacy, k3) = request.getfixturevalue("keras_vgg16")
  else:
    x, ref, (legacy, k3) = _keras_backbone(arch, tmp_path_factory)
  v_legacy = W.backbone_variables_from_keras(legacy, arch)
  v_k3 = W.backbone_variables_from_keras(k3, arch)
  _assert_same_tree(v_legacy, v_k3)  # both file formats import identically
  n = sum(np.size(a) for a in jax.tree.leaves(v_legacy))
  assert n == {"resnet50": 23_587_712, "vgg16": 14_714_688}[arch]
  out = np.asarray(_apply(v_legacy, x, arch))
  assert out.shape == ref.shape == (2, 7, 7, {"resnet50": 2048, "vgg16": 512}[arch])
  err = rel_err(out, ref)
  print(f"\nPARITY {arch} (224x224, batch 2, final feature map): rel_err={err:.3e}")
  assert err <= TOL


def _keras_bilstm(units, in_dim, t, seed):
  keras.utils.set_random_seed(seed)
  inp = keras.Input((t, in_dim))
  h = inp
  for k, u in enumerate(units):
    h = keras.layers.Bidirectional(keras.layers.LSTM(u, return_sequences=True), name=f"bi_{k}")(h)
  model = keras.Model(inp, h)
  rng = np.random.default_rng(seed)
  for layer in model.layers[1:]:  # non-zero biases too
    layer.set_weights([w + rng.normal(0, 0.3, w.shape) for w in layer.get_weights()])
  return model


@pytest.mark.slow  # compiles large models (seconds to minutes)
@pytest.mark.parametrize("units", [(16,), (16, 8)])
def test_bilstm_parity_with_keras(units, tmp_path):
  model = _keras_bilstm(units, 12, 7, seed=len(units))
  x = np.random.default_rng(1).normal(size=(2, 7, 12)).astype(np.float32)
  ref = np.asarray(model.predict(x, verbose=0))
  legacy, k3 = _save_both(model, str(tmp_path), "bilstm")
  names = [f"bi_{k}" for k in range(len(units))]
  p_mem = W.bilstm_params_from_keras([model.get_layer(n).get_weights() for n in names])
  p_legacy = W.bilstm_params_from_h5(legacy, names)
  p_k3 = W.bilstm_params_from_h5(k3, names)
  _assert_same_tree(p_mem, p_legacy)
  _assert_same_tree(p_mem, p_k3)
  m = BiLSTM(units)
  ours = m.apply({"params": p_mem}, x)
  # The imported tree has exactly the module's structure and shapes.
  shapes = jax.eval_shape(lambda: nn.meta.unbox(m.init(jax.random.key(0), x)))["params"]
  assert jax.tree.map(lambda a: a.shape, shapes) == jax.tree.map(np.shape, p_mem)
  err = rel_err(ours, ref)
  print(f"\nPARITY BiLSTM{units} (T=7, batch 2): rel_err={err:.3e}")
  assert err <= TOL


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_cli_roundtrip_and_merge(keras_vgg16, tmp_path):
  x, ref, (legacy, _) = keras_vgg16
  out_dir = str(tmp_path / "vgg16_ckpt")
  assert (
    weights.main(["--from", "keras", "--arch", "vgg16", "--input", legacy, "--output", out_dir])
    == 0
  )
  meta = json.load(open(os.path.join(out_dir, "meta.json")))
  assert meta["arch"] == "vgg16" and meta["normalization"] == "caffe"
  assert meta["source_file"] == os.path.abspath(legacy)
  v = W.load_backbone_variables(out_dir, "vgg16")
  assert rel_err(_apply(v, x, "vgg16"), ref) <= TOL
  with pytest.raises(W.WeightMismatchError, match="vgg16"):
    W.load_backbone_variables(out_dir, "resnet50")


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_merge_pretrained_into_detector(tmp_path):
  from configs.default import get_config
  from ddf.models import build_detector

  cfg = get_config("tiny").model
  cfg.unlock()
  cfg.branches = "spatial"
  det = build_detector(cfg)
  clips = jnp.zeros((1, 1, 32, 32, 3), jnp.uint8)
  variables = jax.jit(lambda c: det.init({"params": jax.random.key(0)}, c, train=False))(clips)
  bb = get_backbone(cfg.spatial.arch)
  bv = nn.meta.unbox(bb.init(jax.random.key(7), jnp.zeros((1, 32, 32, 3))))
  bv = jax.tree.map(lambda a: np.asarray(a) + 0.5, bv)
  W.save_backbone_variables(str(tmp_path), bv, {"arch": cfg.spatial.arch})
  loaded = W.load_backbone_variables(str(tmp_path), cfg.spatial.arch)
  merged = W.merge_pretrained(variables, loaded, cfg.spatial.arch)
  # Boxes (logical axis names) survive; values are the pretrained ones.
  k = merged["params"]["backbone"]["conv1_conv"]["kernel"]
  assert isinstance(k, nn.LogicallyPartitioned)
  _assert_same_tree(nn.meta.unbox(merged["params"]["backbone"]), bv["params"])
  _assert_same_tree(merged["batch_stats"]["backbone"], bv["batch_stats"])
  assert merged["params"]["logit"] is variables["params"]["logit"]
  logits, _ = jax.jit(lambda v: det.apply(v, clips, train=False))(merged)
  assert logits.shape == (1,)
  cfg.spatial.pretrained = str(tmp_path)
  _assert_same_tree(W.maybe_load_pretrained(variables, cfg), merged)
  bad = {"params": jax.tree.map(lambda a: a[..., :1], bv["params"])}
  with pytest.raises(W.WeightMismatchError, match="conv1_conv"):
    W.merge_pretrained(variables, bad, cfg.spatial.arch)


def test_missing_files_say_how_to_get_them(tmp_path, capsys):
  missing = str(tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
  with pytest.raises(FileNotFoundError) as e:
    W.backbone_variables_from_keras(missing, "resnet50")
  assert missing in str(e.value) and "keras.applications.ResNet50" in str(e.value)
  argv = ["--from", "torch", "--arch", "resnet50", "--input", missing, "--output", str(tmp_path)]
  assert weights.main(argv) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
  assert missing in err and "torchvision" in err
  with pytest.raises(FileNotFoundError) as e:
    W.load_backbone_variables(str(tmp_path / "nothing"), "resnet50")
  assert "nothing" in str(e.value) and "python -m ddf.weights" in str(e.value)


def test_mismatched_file_lists_layers(tmp_path):
  path = str(tmp_path / "bad.h5")
  with h5py.File(path, "w") as f:  # legacy layout, Keras 2 names with ':0', wrong kernel shape
    f.attrs["layer_names"] = np.array([b"block1_conv1"])
    g = f.create_group("block1_conv1")
    g.attrs["weight_names"] = np.array([b"block1_conv1/kernel:0", b"block1_conv1/bias:0"])
    g.create_dataset("block1_conv1/kernel:0", data=np.zeros((3, 3, 3, 32), np.float32))
    g.create_dataset("block1_conv1/bias:0", data=np.zeros((32,), np.float32))
  with pytest.raises(W.WeightMismatchError) as e:
    W.backbone_variables_from_keras(path, "vgg16")
  msg = str(e.value)
  assert path in msg and "block1_conv1" in msg and "(3, 3, 3, 64)" in msg and "(3, 3, 3, 32)" in msg
  assert "missing layers" in msg and "block5_conv3" in msg
  with pytest.raises(W.WeightMismatchError) as e:
    W.backbone_variables_from_keras(path, "resnet50")
  assert path in str(e.value) and "conv1_conv" in str(e.value) and "block1_conv1" in str(e.value)
  assert "conv5_block3_3_bn: params/scale(2048,)" in e.value.details  # the full listing


def test_cli_unknown_file_is_short(tmp_path, capsys):
  path = str(tmp_path / "other.h5")
  with h5py.File(path, "w") as f:  # a file of no known arch
    f.attrs["layer_names"] = np.array([b"dense_1"])
    g = f.create_group("dense_1")
    g.attrs["weight_names"] = np.array([b"dense_1/kernel:0"])
    g.create_dataset("dense_1/kernel:0", data=np.zeros((4, 2), np.float32))
  argv = ["--from", "keras", "--arch", "resnet50", "--input", path, "--output", str(tmp_path / "o")]
  assert weights.main(argv) == 2
  out, err = capsys.readouterr()
  lines = err.strip().splitlines()
  assert not out and len(lines) <= 2 and "Traceback" not in err
  assert lines[0].startswith(f"error: {path} does not fit --arch resnet50")
  assert "missing layers: 106 of 106 (conv1_bn, conv1_conv ... conv5_block3_3_conv)" in lines[0]
  assert "the file has 1 layer with weights (dense_1)" in lines[0]
  assert "keras.applications.ResNet50" in lines[1]  # where to get the right file
  assert not os.path.exists(tmp_path / "o")
  assert weights.main([*argv, "--verbose"]) == 2  # --verbose adds the whole listing
  err = capsys.readouterr().err
  assert "conv5_block3_3_bn: params/scale(2048,)" in err and "dense_1: dense_1/kernel(4, 2)" in err


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_cli_wrong_arch_names_the_right_one(keras_vgg16, tmp_path, capsys):
  _, _, (legacy, k3) = keras_vgg16
  out_dir = str(tmp_path / "out")
  for path in (legacy, k3):
    argv = ["--from", "keras", "--arch", "resnet50", "--input", path, "--output", out_dir]
    assert weights.main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert not out and len(lines) <= 2 and "Traceback" not in err
    assert lines[0].startswith(f"error: {path} holds Keras VGG16 weights (13 conv layers: ")
    assert "block1_conv1 ... block5_conv3), not resnet50" in lines[0]
    cmd = f"python -m ddf.weights --from keras --arch vgg16 --input {path} --output {out_dir}"
    assert lines[-1].strip() == f"run: {cmd}"
    assert not os.path.exists(out_dir)
  # A Keras file given as a torch file: says so, with the arch and the command.
  argv = ["--from", "torch", "--arch", "resnet50", "--input", legacy, "--output", out_dir]
  assert weights.main(argv) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) <= 2 and "Keras HDF5 weight file (Keras VGG16)" in lines[0]
  cmd = f"python -m ddf.weights --from keras --arch vgg16 --input {legacy} --output {out_dir}"
  assert lines[-1].strip() == f"run: {cmd}"


def test_cli_torch_file_given_as_keras(tmp_path, capsys):
  import zipfile

  path = str(tmp_path / "resnet50.pth")
  with zipfile.ZipFile(path, "w") as z:  # the layout of torch.save (torch >= 1.6)
    z.writestr("resnet50/data.pkl", b"\x80\x02}q\x00.")
  argv = ["--from", "keras", "--arch", "resnet50", "--input", path, "--output", str(tmp_path / "o")]
  assert weights.main(argv) == 2
  lines = capsys.readouterr().err.strip().splitlines()
  assert len(lines) == 2 and "torch.save file" in lines[0]
  assert lines[1].strip() == (
    f"run: python -m ddf.weights --from torch --arch resnet50 --input {path} "
    f"--output {tmp_path / 'o'}"
  )


def _torchvision_resnet50_state_dict():
  """Key names and shapes of torchvision.models.resnet50().state_dict() (zeros), written out."""
  sd = {"conv1.weight": (64, 3, 7, 7)}

  def bn(p, c):
    return sd.update(
      {
        f"{p}.weight": (c,),
        f"{p}.bias": (c,),
        f"{p}.running_mean": (c,),
        f"{p}.running_var": (c,),
        f"{p}.num_batches_tracked": (),
      }
    )

  bn("bn1", 64)
  cin = 64
  for s, (blocks, f) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), 1):
    for b in range(blocks):
      p = f"layer{s}.{b}"
      sd[f"{p}.conv1.weight"] = (f, cin, 1, 1)
      bn(f"{p}.bn1", f)
      sd[f"{p}.conv2.weight"] = (f, f, 3, 3)
      bn(f"{p}.bn2", f)
      sd[f"{p}.conv3.weight"] = (4 * f, f, 1, 1)
      bn(f"{p}.bn3", 4 * f)
      if b == 0:
        sd[f"{p}.downsample.0.weight"] = (4 * f, cin, 1, 1)
        bn(f"{p}.downsample.1", 4 * f)
      cin = 4 * f
  sd["fc.weight"], sd["fc.bias"] = (1000, 2048), (1000,)
  rng = np.random.default_rng(0)
  return {k: rng.normal(size=s).astype(np.float32) if s else np.int64(0) for k, s in sd.items()}


def test_torchvision_state_dict_mapping():
  sd = _torchvision_resnet50_state_dict()
  v = W.backbone_variables_from_torch(sd, "resnet50")
  np.testing.assert_array_equal(
    v["params"]["conv1_conv"]["kernel"], sd["conv1.weight"].transpose(2, 3, 1, 0)
  )
  np.testing.assert_array_equal(
    v["params"]["conv3_block1_0_conv"]["kernel"][0, 0],
    sd["layer2.0.downsample.0.weight"][:, :, 0, 0].T,
  )
  np.testing.assert_array_equal(
    v["batch_stats"]["conv5_block3_3_bn"]["mean"], sd["layer4.2.bn3.running_mean"]
  )
  n = sum(np.size(a) for a in jax.tree.leaves(v))
  assert n == sum(np.size(a) for k, a in sd.items() if not k.startswith("fc.") and np.ndim(a))


def test_torchvision_wrong_arch_names_the_right_one():
  sd = _torchvision_resnet50_state_dict()
  with pytest.raises(W.WeightMismatchError) as e:
    W.backbone_variables_from_torch(sd, "vgg16", output="ckpt")
  msg = str(e.value)
  assert len(msg.splitlines()) <= 2, msg
  assert "holds torchvision ResNet50 weights (53 conv + 53 batch-norm layers), not vgg16" in msg
  assert "--from torch --arch resnet50 --input '<state dict>' --output ckpt" in msg
  sd = {k: v for k, v in sd.items() if not k.startswith("layer4.")}  # no known arch
  with pytest.raises(W.WeightMismatchError) as e:
    W.backbone_variables_from_torch(sd, "resnet50")
  msg = str(e.value)
  assert len(msg.splitlines()) <= 2 and "missing layers: 20 of 106" in msg, msg
  assert "layer4.2.bn3.running_var" in msg and "torchvision.models.resnet50" in msg


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_torchvision_numerics():
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  model = torchvision.models.resnet50().eval()
  x = np.random.default_rng(0).uniform(0, 255, (1, 96, 96, 3)).astype(np.float32)
  mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
  xt = torch.from_numpy(((x / 255 - mean) / std).transpose(0, 3, 1, 2).astype(np.float32))
  trunk = torch.nn.Sequential(*list(model.children())[:-2])
  with torch.no_grad():
    ref = trunk(xt).numpy().transpose(0, 2, 3, 1)
  v = W.backbone_variables_from_torch(model.state_dict(), "resnet50")
  assert rel_err(_apply(v, x, "resnet50_tv"), ref) <= TOL
