"""Import of pretrained weights: Keras ImageNet ResNet50 / VGG16 (.h5), torchvision state dicts,
Keras `Bidirectional(LSTM)` layers.

The library behind `python -m ddf.weights` (nothing downloads; the input file is user-supplied):
`convert` writes `DIR/variables` (orbax checkpoint of `{'params', 'batch_stats'}` of the backbone module only)
and `DIR/meta.json` (arch, source file, normalisation). Torchvision weights target the `*_tv` archs
(`resnet50_tv`: ResNet v1.5 layout, `vgg16_tv`; both torch normalisation): set
`model.spatial.arch` to the `arch` in meta.json. Use with `model.spatial.pretrained=DIR`;
`load_backbone_variables` + `merge_pretrained` put the weights at `params['backbone']` /
`batch_stats['backbone']` of a FusionDetector.

Keras files accepted: legacy HDF5 (root attr `layer_names`, per-layer attr `weight_names`, with or
without `:0`; also a full-model file with a `model_weights` group) and Keras 3 `.weights.h5`
(`layers/<key>/vars/<i>`, layer name in the `vars` group's `name` attribute).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ddf.models.backbones import backbone_normalization, get_backbone

KERAS_HELP = {
  "resnet50": "keras.applications.ResNet50(weights='imagenet', include_top=False) on a machine with "
  "internet caches ~/.keras/models/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
  "vgg16": "keras.applications.VGG16(weights='imagenet', include_top=False) on a machine with "
  "internet caches ~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
TORCH_HELP = {
  "resnet50": "torch.save(torchvision.models.resnet50(weights='IMAGENET1K_V2').state_dict(), 'resnet50.pth')",
  "vgg16": "torch.save(torchvision.models.vgg16(weights='IMAGENET1K_V1').state_dict(), 'vgg16.pth')",
}
TORCH_ARCH = {"resnet50": "resnet50_tv", "vgg16": "vgg16_tv"}
ARCH_TITLES = {
  "resnet50": "Keras ResNet50",
  "vgg16": "Keras VGG16",
  "resnet50_tv": "torchvision ResNet50",
  "vgg16_tv": "torchvision VGG16",
}
# A few state-dict keys of each torchvision arch (first ... last), for messages.
TORCH_KEYS = {
  "resnet50_tv": "conv1.weight, bn1.weight, layer1.0.conv1.weight ... layer4.2.bn3.running_var",
  "vgg16_tv": "features.0.weight, features.0.bias, features.2.weight ... features.28.bias",
}
BN_KEYS = (("params", "scale"), ("params", "bias"), ("batch_stats", "mean"), ("batch_stats", "var"))
VARIABLES_SUBDIR = "variables"
META_FILE = "meta.json"


class WeightMismatchError(ValueError):
  """A weight file does not fit the target module.

  `str(e)` is short (at most two lines: what the file holds and what to do); `e.details` lists
  all expected and found layers with their shapes when there is such a list, else is empty.
  """

  def __init__(self, message: str, details: str = ""):
    super().__init__(message)
    self.details = details


def _check_exists(path: str, how: str) -> None:
  if not os.path.exists(path):
    raise FileNotFoundError(f"weight file not found: {path}. To get one: {how}")


# ----------------------------------------------------------------------------- Keras HDF5 reading


def _keras3_group_weights(group: Any, prefix: str = "") -> list[tuple[str, np.ndarray]]:
  """Arrays of one Keras 3 layer group in `get_weights()` order (own vars, then sublayers)."""
  out = []
  if "vars" in group:
    keys = sorted(group["vars"].keys(), key=int)
    out += [(f"{prefix}vars/{k}", np.asarray(group["vars"][k])) for k in keys]
  subs = [k for k in group.keys() if k != "vars"]
  order = {"forward_layer": 0, "backward_layer": 1, "cell": 0}
  for k in sorted(subs, key=lambda s: (order.get(s, 2), s)):
    out += _keras3_group_weights(group[k], f"{prefix}{k}/")
  return out


def read_keras_h5(path: str) -> dict[str, list[tuple[str, np.ndarray]]]:
  """Keras weight file -> {layer name: [(weight name, array), ...] in `get_weights()` order}.

  Layers without weights are omitted. Legacy names keep Keras's spelling minus any ':0'.
  """
  import h5py

  path = os.fspath(path)
  _check_exists(path, "save one with keras (model.save_weights / keras.applications cache)")
  out: dict[str, list[tuple[str, np.ndarray]]] = {}
  with h5py.File(path, "r") as f:
    root = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
    if "layer_names" in root.attrs:  # legacy HDF5
      for lname in root.attrs["layer_names"]:
        lname = lname.decode() if isinstance(lname, bytes) else str(lname)
        g = root[lname]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs["weight_names"]]
        if names:
          out[lname] = [(re.sub(r":0$", "", n), np.asarray(g[n])) for n in names]
    elif "layers" in root:  # Keras 3 .weights.h5
      for key in root["layers"].keys():
        g = root["layers"][key]
        lname = g["vars"].attrs.get("name", key) if "vars" in g else key
        lname = lname.decode() if isinstance(lname, bytes) else str(lname)
        ws = _keras3_group_weights(g)
        if ws:
          out[lname] = ws
    else:
      raise WeightMismatchError(
        f"{path}: not a Keras weight file (no 'layer_names' attribute and no 'layers' group)"
      )
  return out


# ----------------------------------------------------------------------------- backbones


def backbone_shapes(arch: str) -> dict[str, Any]:
  """Abstract `{'params', 'batch_stats'}` (unboxed ShapeDtypeStructs) of backbone `arch`."""
  m = get_backbone(arch)
  v = jax.eval_shape(lambda: m.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)), train=False))
  v = nn.meta.unbox(v)
  return {"params": dict(v["params"]), "batch_stats": dict(v.get("batch_stats", {}))}


@functools.lru_cache(maxsize=None)
def _expected_layers(arch: str) -> dict[str, list[tuple[tuple[str, str], tuple[int, ...]]]]:
  """{layer: [((collection, name), shape), ...] in Keras get_weights order}."""
  shapes = backbone_shapes(arch)
  out = {}
  for lname, p in shapes["params"].items():
    if "kernel" in p:
      out[lname] = [(("params", "kernel"), p["kernel"].shape)]
      if "bias" in p:
        out[lname].append((("params", "bias"), p["bias"].shape))
    else:
      stats = shapes["batch_stats"][lname]
      src = {"params": p, "batch_stats": stats}
      out[lname] = [(k, src[k[0]][k[1]].shape) for k in BN_KEYS]
  return out


def _fmt_layers(layers: Mapping[str, Sequence[tuple[Any, tuple[int, ...]]]]) -> str:
  return "\n".join(
    f"    {n}: " + ", ".join(f"{w}{tuple(s)}" for w, s in ws) for n, ws in layers.items()
  )


def _natural(names: Any) -> list[str]:
  """Names in network order (numbers compared as numbers): conv2_block10 after conv2_block9."""
  return sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


def _some(names: Sequence[str], k: int = 3) -> str:
  """'a, b, c' or 'a, b ... z' (the first k - 1 and the last of a long list)."""
  names = list(names)
  return ", ".join(names) if len(names) <= k + 1 else f"{', '.join(names[: k - 1])} ... {names[-1]}"


def _problems(
  arch: str, found: Mapping[str, Sequence[tuple[str, np.ndarray]]]
) -> tuple[list[str], list[str]]:
  """(missing layers, layers with other shapes) of `found` for backbone `arch`."""
  missing, bad = [], []
  for lname, ws in _expected_layers(arch).items():
    if lname not in found:
      missing.append(lname)
    elif [tuple(s) for _, s in ws] != [tuple(a.shape) for _, a in found[lname]]:
      bad.append(lname)
  return _natural(missing), _natural(bad)


def _describe(arch: str) -> str:
  """'13 conv layers: block1_conv1 ... block5_conv3' (Keras layer names of backbone `arch`)."""
  expected = _expected_layers(arch)
  convs = _natural(n for n, ws in expected.items() if ws[0][0] == ("params", "kernel"))
  bns = len(expected) - len(convs)
  names = f"{convs[0]} ... {convs[-1]}" if len(convs) > 1 else ", ".join(convs)
  return f"{len(convs)} conv" + (f" + {bns} batch-norm" if bns else "") + f" layers: {names}"


def _command(source_format: str, arch: str, input_path: str, output: str | None) -> str:
  """The `python -m ddf.weights` command converting `input_path` for backbone `arch`."""
  cli_arch = {v: k for k, v in TORCH_ARCH.items()}.get(arch, arch)
  return (
    f"python -m ddf.weights --from {source_format} --arch {cli_arch} "
    f"--input {shlex.quote(input_path)} --output {shlex.quote(output) if output else 'DIR'}"
  )


def _identify(candidates: Mapping[str, Mapping[str, Sequence[tuple[str, np.ndarray]]]]) -> str:
  """The first arch whose layers all are in its candidate layers with their shapes, or ''."""
  return next((a for a, found in candidates.items() if _problems(a, found) == ([], [])), "")


def _mismatch(
  arch: str,
  found: Mapping[str, Sequence[tuple[str, np.ndarray]]],
  source: str,
  source_format: str,
  candidates: Mapping[str, Mapping[str, Sequence[tuple[str, np.ndarray]]]],
  file_names: Sequence[str],
  output: str | None,
) -> WeightMismatchError:
  """The error for `found` not fitting `arch`: names the arch the file holds and the command that
  converts it, or else a few expected vs found names and where to get the right file."""
  base = {v: k for k, v in TORCH_ARCH.items()}.get(arch, arch) if source_format == "torch" else arch
  detected = _identify({a: f for a, f in candidates.items() if a != arch})
  if detected:
    what = _describe(detected) if source_format == "keras" else _describe(detected).split(":")[0]
    return WeightMismatchError(
      f"{source} holds {ARCH_TITLES.get(detected, detected)} weights ({what}), not {base};\n"
      f"  run: {_command(source_format, detected, source, output)}"
    )
  expected = _expected_layers(arch)
  exp = {n: [(f"{c}/{w}", s) for (c, w), s in expected[n]] for n in _natural(expected)}
  got = {n: [(w, a.shape) for w, a in found[n]] for n in _natural(found)}
  details = (
    f"expected layers of {arch} (name: weights and shapes):\n{_fmt_layers(exp)}\n"
    f"found layers{' (state dict mapped to Keras names)' if source_format == 'torch' else ''} "
    f"(name: weights and shapes):\n{_fmt_layers(got)}"
  )
  missing, bad = _problems(arch, found)
  what = []
  if source_format == "torch":
    what.append(f"expected keys like {TORCH_KEYS.get(arch, '?')}")
  if missing:
    what.append(f"missing layers: {len(missing)} of {len(expected)} ({_some(missing)})")
  for n in bad[:2]:
    want = " ".join(str(tuple(s)) for _, s in exp[n])
    what.append(f"{n} expected {want}, found {' '.join(str(tuple(s)) for _, s in got[n])}")
  if len(bad) > 2:
    what.append(f"{len(bad) - 2} more layers with other shapes")
  unit = "array" if source_format == "torch" else "layer"
  unit += "" if len(file_names) == 1 else "s"
  unit += "" if source_format == "torch" else " with weights"
  what.append(f"the file has {len(file_names)} {unit} ({_some(file_names) or 'none'})")
  help_ = (TORCH_HELP if source_format == "torch" else KERAS_HELP).get(base, "")
  return WeightMismatchError(
    f"{source} does not fit --arch {base} ({ARCH_TITLES.get(arch, arch)}): {'; '.join(what)}.\n"
    + (f"  to get {base} weights: {help_}" if help_ else "  use a weight file of that arch"),
    details,
  )


def _assemble(
  arch: str,
  found: Mapping[str, Sequence[tuple[str, np.ndarray]]],
  source: str,
  source_format: str = "keras",
  candidates: Mapping[str, Mapping[str, Sequence[tuple[str, np.ndarray]]]] | None = None,
  file_names: Sequence[str] | None = None,
  output: str | None = None,
) -> dict[str, Any]:
  """Found arrays (Keras layout, get_weights order) -> backbone variables, or a mismatch error.

  `candidates` ({arch: its found layers}) are the other archs the file may hold, `file_names`
  the names shown for the file's content (default: the found layers), `output` the folder named
  in a suggested command.
  """
  expected = _expected_layers(arch)
  if _problems(arch, found) != ([], []):
    raise _mismatch(
      arch,
      found,
      source,
      source_format,
      candidates or {},
      _natural(found) if file_names is None else file_names,
      output,
    )
  out: dict[str, Any] = {"params": {}, "batch_stats": {}}
  for lname, ws in expected.items():
    for ((col, wname), _), (_, arr) in zip(ws, found[lname], strict=True):
      out[col].setdefault(lname, {})[wname] = np.asarray(arr, np.float32)
  if not out["batch_stats"]:
    del out["batch_stats"]
  return out


def _is_torch_file(path: str) -> bool:
  """torch.save output: a zip archive (torch >= 1.6) or a pickle (protocol 2+)."""
  if zipfile.is_zipfile(path):
    return True
  with open(path, "rb") as f:
    return f.read(1) == b"\x80"


def backbone_variables_from_keras(
  path: str, arch: str, *, output: str | None = None
) -> dict[str, Any]:
  """Keras ResNet50 / VGG16 weight file (legacy .h5 or Keras 3 .weights.h5) -> backbone variables.

  Returns `{'params': {layer: {...}}, 'batch_stats': {...}}` (numpy float32) for `get_backbone(arch)`.
  Extra layers in the file (e.g. a classification top) are ignored. A file of another arch raises
  a `WeightMismatchError` naming it and the command to convert it (`output`: its --output).
  """
  import h5py

  path = os.fspath(path)
  _check_exists(path, KERAS_HELP.get(arch, "save the Keras model's weights to .h5"))
  if not h5py.is_hdf5(path):
    if _is_torch_file(path):
      raise WeightMismatchError(
        f"{path} is a torch.save file, not a Keras HDF5 file;\n"
        f"  run: {_command('torch', TORCH_ARCH.get(arch, arch), path, output)}"
      )
    raise WeightMismatchError(
      f"{path} is not an HDF5 file; to get Keras {arch} weights: "
      + KERAS_HELP.get(arch, "save the Keras model's weights to .h5")
    )
  found = read_keras_h5(path)
  return _assemble(arch, found, path, "keras", {a: found for a in KERAS_HELP}, output=output)


def _torch_to_keras_layers(sd: Mapping[str, np.ndarray], arch: str) -> dict[str, list]:
  """torchvision resnet50 / vgg16 state dict -> {keras layer name: [(name, array)]} (HWIO kernels)."""
  out: dict[str, list] = {}

  def conv(dst: str, src: str) -> None:
    if f"{src}.weight" not in sd:
      return
    ws = [("kernel", np.transpose(sd[f"{src}.weight"], (2, 3, 1, 0)))]
    if f"{src}.bias" in sd:
      ws.append(("bias", sd[f"{src}.bias"]))
    out[dst] = ws

  def bn(dst: str, src: str, eps_from: float = 1e-5, eps_to: float = 1e-5) -> None:
    if f"{src}.weight" not in sd:
      return
    out[dst] = [
      ("gamma", sd[f"{src}.weight"]),
      ("beta", sd[f"{src}.bias"]),
      ("moving_mean", sd[f"{src}.running_mean"]),
      ("moving_variance", np.maximum(sd[f"{src}.running_var"] + eps_from - eps_to, 0.0)),
    ]

  if arch.startswith("resnet"):
    conv("conv1_conv", "conv1")
    bn("conv1_bn", "bn1")
    for s in range(1, 5):
      for b in range(64):
        src, dst = f"layer{s}.{b}", f"conv{s + 1}_block{b + 1}"
        if f"{src}.conv1.weight" not in sd:
          break
        for k in (1, 2, 3):
          conv(f"{dst}_{k}_conv", f"{src}.conv{k}")
          bn(f"{dst}_{k}_bn", f"{src}.bn{k}")
        conv(f"{dst}_0_conv", f"{src}.downsample.0")
        bn(f"{dst}_0_bn", f"{src}.downsample.1")
  else:
    idx = sorted({int(m.group(1)) for k in sd if (m := re.match(r"features\.(\d+)\.weight$", k))})
    names = [n for n, w in backbone_shapes(arch)["params"].items()]
    names = sorted(names, key=lambda n: tuple(int(d) for d in re.findall(r"\d+", n)))
    for name, i in zip(names, idx, strict=False):
      conv(name, f"features.{i}")
  return out


def backbone_variables_from_torch(
  path_or_state_dict: Any, arch: str, *, output: str | None = None
) -> dict[str, Any]:
  """torchvision `resnet50` / `vgg16` state dict (file saved with torch.save, or a dict of arrays)
  -> variables of backbone `resnet50_tv` / `vgg16_tv` (`arch` may be given either way).

  A state dict (or a Keras file) of another arch raises a `WeightMismatchError` naming it and the
  command to convert it (`output`: its --output).
  """
  target = TORCH_ARCH.get(arch, arch)
  base = {v: k for k, v in TORCH_ARCH.items()}.get(target, arch)
  if isinstance(path_or_state_dict, (str, os.PathLike)):
    import h5py

    source = os.fspath(path_or_state_dict)
    _check_exists(source, TORCH_HELP.get(base, "torch.save(model.state_dict(), FILE)"))
    if h5py.is_hdf5(source):  # a Keras file: say which arch it holds
      found = read_keras_h5(source)
      keras_arch = _identify({a: found for a in KERAS_HELP}) or base
      what = f" ({ARCH_TITLES[keras_arch]})" if keras_arch in ARCH_TITLES else ""
      raise WeightMismatchError(
        f"{source} is a Keras HDF5 weight file{what}, not a torch state dict;\n"
        f"  run: {_command('keras', keras_arch, source, output)}"
      )
    try:
      import torch
    except ImportError as e:  # optional dependency
      raise ImportError("reading torch files needs torch: pip install 'ddf[torch]'") from e
    sd = torch.load(source, map_location="cpu", weights_only=True)
    if isinstance(sd, Mapping) and "state_dict" in sd:
      sd = sd["state_dict"]
  else:
    source, sd = "<state dict>", path_or_state_dict
  sd = {
    re.sub(r"^module\.", "", k): np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
    for k, v in sd.items()
  }
  candidates = {a: _torch_to_keras_layers(sd, a) for a in TORCH_ARCH.values()}
  names = [k for k in sd if not k.endswith("num_batches_tracked")]
  found = candidates[target] if target in candidates else _torch_to_keras_layers(sd, target)
  return _assemble(target, found, source, "torch", candidates, names, output)


# ----------------------------------------------------------------------------- checkpoints


def save_backbone_variables(
  directory: str, variables: Mapping[str, Any], meta: Mapping[str, Any]
) -> None:
  """Writes `directory/variables` (orbax) and `directory/meta.json`."""
  import orbax.checkpoint as ocp

  directory = os.path.abspath(os.path.expanduser(os.fspath(directory)))
  os.makedirs(directory, exist_ok=True)
  tree = {k: jax.tree.map(np.asarray, dict(v)) for k, v in variables.items()}
  ckptr = ocp.StandardCheckpointer()
  ckptr.save(os.path.join(directory, VARIABLES_SUBDIR), tree, force=True)
  ckptr.wait_until_finished()
  with open(os.path.join(directory, META_FILE), "w") as f:
    json.dump(dict(meta), f, indent=2)


def load_backbone_variables(directory: str, arch: str) -> dict[str, Any]:
  """Reads a directory written by `python -m ddf.weights` -> `{'params', 'batch_stats'?}`.

  Raises if it is missing, if it was made for another arch, or if shapes do not fit `arch`.
  """
  import orbax.checkpoint as ocp

  directory = os.path.abspath(os.path.expanduser(os.fspath(directory)))
  meta_path = os.path.join(directory, META_FILE)
  how = (
    f"convert a weight file first: python -m ddf.weights --from keras --arch {arch} "
    f"--input FILE --output {directory}"
  )
  _check_exists(meta_path, how)
  with open(meta_path) as f:
    meta = json.load(f)
  if meta.get("arch") != arch:
    raise WeightMismatchError(
      f"{directory}: weights are for arch {meta.get('arch')!r}, model.spatial.arch is {arch!r}; "
      f"set model.spatial.arch={meta.get('arch')}"
    )
  expected = backbone_shapes(arch)
  target = {
    k: jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, np.float32), v)
    for k, v in expected.items()
    if v
  }
  restored = ocp.StandardCheckpointer().restore(os.path.join(directory, VARIABLES_SUBDIR), target)
  return {k: jax.tree.map(np.asarray, dict(v)) for k, v in restored.items()}


def merge_pretrained(
  variables: Mapping[str, Any],
  backbone_variables: Mapping[str, Any],
  arch: str = "",
  path: str = "backbone",
) -> dict[str, Any]:
  """Returns FusionDetector `variables` with `params[path]` / `batch_stats[path]` replaced by
  `backbone_variables` (boxed `nn.LogicallyPartitioned` leaves keep their metadata)."""
  out = dict(variables)
  for col, tree in backbone_variables.items():
    if col not in variables or path not in variables[col]:
      raise WeightMismatchError(f"detector variables have no {col}/{path} (arch {arch!r})")
    old = variables[col][path]
    old_flat = {
      "/".join(str(getattr(k, "key", k)) for k in kp): v
      for kp, v in jax.tree_util.tree_flatten_with_path(
        old, is_leaf=lambda x: isinstance(x, nn.meta.AxisMetadata)
      )[0]
    }
    new_flat = {
      "/".join(str(getattr(k, "key", k)) for k in kp): v
      for kp, v in jax.tree_util.tree_flatten_with_path(tree)[0]
    }
    bad = sorted(set(old_flat) ^ set(new_flat)) + [
      k
      for k in old_flat
      if k in new_flat and tuple(nn.meta.unbox(old_flat[k]).shape) != tuple(np.shape(new_flat[k]))
    ]
    if bad:
      raise WeightMismatchError(
        f"pretrained {col}/{path} does not fit the detector (arch {arch!r}); differing entries: "
        + ", ".join(bad[:20])
        + (" ..." if len(bad) > 20 else "")
      )

    def put(o: Any, n: Any) -> Any:
      if isinstance(o, nn.meta.AxisMetadata):
        return o.replace_boxed(put(o.unbox(), n))
      n = np.asarray(n, o.dtype)
      if isinstance(o, jax.Array):  # keep the (possibly multi-host) sharding of the target
        return jax.make_array_from_callback(n.shape, o.sharding, lambda idx: n[idx])
      return jnp.asarray(n)

    merged = jax.tree.map(
      put,
      old,
      jax.tree.unflatten(
        jax.tree.structure(old, is_leaf=lambda x: isinstance(x, nn.meta.AxisMetadata)),
        [new_flat[k] for k in old_flat],
      ),
      is_leaf=lambda x: isinstance(x, nn.meta.AxisMetadata),
    )
    out[col] = {**variables[col], path: merged}
  return out


def maybe_load_pretrained(variables: Mapping[str, Any], model_cfg: Any) -> dict[str, Any]:
  """`merge_pretrained(variables, load_backbone_variables(model_cfg.spatial.pretrained, arch))`
  when `model_cfg.spatial.pretrained` is set and the model has a backbone; else `variables`."""
  directory = model_cfg.spatial.pretrained
  if not directory or "backbone" not in variables.get("params", {}):
    return dict(variables)
  arch = model_cfg.spatial.arch
  return merge_pretrained(variables, load_backbone_variables(directory, arch), arch)


# ----------------------------------------------------------------------------- LSTMs


def lstm_params_from_keras(
  kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray
) -> dict:
  """Keras LSTM (gates i, f, c, o along the last axis) -> OptimizedLSTMCell params (c -> g)."""
  u = recurrent_kernel.shape[0]
  if kernel.shape[-1] != 4 * u or recurrent_kernel.shape != (u, 4 * u) or bias.shape != (4 * u,):
    raise WeightMismatchError(
      f"not a Keras LSTM: kernel {kernel.shape}, recurrent_kernel {recurrent_kernel.shape}, "
      f"bias {bias.shape}"
    )
  out = {}
  for k, g in enumerate("ifgo"):
    sl = slice(k * u, (k + 1) * u)
    out[f"i{g}"] = {"kernel": np.asarray(kernel[:, sl], np.float32)}
    out[f"h{g}"] = {
      "kernel": np.asarray(recurrent_kernel[:, sl], np.float32),
      "bias": np.asarray(bias[sl], np.float32),
    }
  return out


def bilstm_layer_params_from_keras(weights: Sequence[np.ndarray]) -> dict:
  """`Bidirectional(LSTM).get_weights()` (6 arrays: forward k, rk, b, backward k, rk, b)
  -> `BiLSTMLayer` params `{'forward': ..., 'backward': ...}`."""
  if len(weights) != 6:
    raise WeightMismatchError(f"expected 6 arrays for Bidirectional(LSTM), got {len(weights)}")
  return {
    "forward": lstm_params_from_keras(*weights[:3]),
    "backward": lstm_params_from_keras(*weights[3:]),
  }


def bilstm_params_from_keras(layers_weights: Sequence[Sequence[np.ndarray]]) -> dict:
  """One `get_weights()` list per stacked Bidirectional(LSTM) -> `BiLSTM` params."""
  return {f"bilstm_{k}": bilstm_layer_params_from_keras(w) for k, w in enumerate(layers_weights)}


def bilstm_params_from_h5(path: str, layer_names: Sequence[str]) -> dict:
  """Bidirectional(LSTM) layers `layer_names` (stack order) of a Keras weight file -> BiLSTM params."""
  found = read_keras_h5(path)
  missing = [n for n in layer_names if n not in found]
  if missing:
    raise WeightMismatchError(
      f"{path}: layers {missing} not found; found layers: "
      + ", ".join(f"{n}{[tuple(a.shape) for _, a in ws]}" for n, ws in found.items())
    )
  return bilstm_params_from_keras([[a for _, a in found[n]] for n in layer_names])


def convert(source_format: str, arch: str, input_path: str, output_dir: str) -> dict[str, Any]:
  """Converts a weight file and writes the checkpoint; returns meta."""
  if source_format == "keras":
    target = arch
    variables = backbone_variables_from_keras(input_path, arch, output=output_dir)
  elif source_format == "torch":
    target = TORCH_ARCH.get(arch, arch)
    variables = backbone_variables_from_torch(input_path, arch, output=output_dir)
  else:
    raise ValueError(f"--from must be keras or torch, got {source_format!r}")
  meta = {
    "arch": target,
    "source_format": source_format,
    "source_file": os.path.abspath(os.fspath(input_path)),
    "normalization": backbone_normalization(target),
    "detector_path": "params/backbone, batch_stats/backbone",
    "num_params": int(sum(np.size(x) for x in jax.tree.leaves(variables))),
  }
  save_backbone_variables(output_dir, variables, meta)
  return meta
