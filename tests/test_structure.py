"""The shape of the package: thin entry points, no library importing an entry point, no module
using another's private names, a short training loop."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "ddf"


def _module_name(path: Path) -> str:
  parts = path.relative_to(REPO).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): ast.parse(p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))}


def _is_entry_point(tree: ast.Module) -> bool:
  return any(
    isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body
  )


ENTRY_POINTS = sorted(name for name, tree in MODULES.items() if _is_entry_point(tree))


def _imports(name: str, tree: ast.Module) -> dict[str, str]:
  """alias -> imported ddf module, and 'from' imports as `module:name` -> module."""
  out = {}
  package = name.rsplit(".", 1)[0]
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for a in node.names:
        if a.name.startswith("ddf"):
          out[a.asname or a.name] = a.name
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
      if not base.startswith("ddf"):
        continue
      for a in node.names:
        full = f"{base}.{a.name}"
        if full in MODULES:  # `from ddf import train_lib`
          out[a.asname or a.name] = full
        else:  # `from ddf.metrics import binary_metrics`
          out[f"{base}:{a.name}"] = base
  return out


def test_entry_points_are_the_documented_commands():
  assert ENTRY_POINTS == sorted(
    [
      "ddf.baselines",
      "ddf.data.build",
      "ddf.data.synthetic",
      "ddf.evaluate",
      "ddf.predict",
      "ddf.precompute_features",
      "ddf.sbi_highpass",
      "ddf.tables",
      "ddf.train",
      "ddf.weights",
    ]
  )


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_points_are_thin(name):
  tree = MODULES[name]
  defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
  assert sorted(defined) == ["cli", "main"], f"{name} defines {defined}: move them to a library"


def test_console_scripts_call_cli():
  text = (REPO / "pyproject.toml").read_text()
  block = text.split("[project.scripts]")[1].split("\n[")[0]
  targets = re.findall(r'^[\w-]+ = "([\w.:]+)"', block, re.M)
  assert len(targets) >= 6
  for target in targets:
    module, func = target.split(":")
    assert module in ENTRY_POINTS and func == "cli"


def test_no_module_imports_an_entry_point():
  offenders = [
    (name, imported)
    for name, tree in MODULES.items()
    for imported in _imports(name, tree).values()
    if imported in ENTRY_POINTS and imported != name
  ]
  assert not offenders, offenders


def test_no_module_uses_another_modules_private_names():
  offenders = []
  for name, tree in MODULES.items():
    imports = _imports(name, tree)
    for key, module in imports.items():
      if ":" in key and key.split(":")[1].startswith("_") and module != name:
        offenders.append((name, key))
    for node in ast.walk(tree):
      if (
        isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and isinstance(node.value, ast.Name)
        and imports.get(node.value.id, name) != name
      ):
        offenders.append((name, f"{node.value.id}.{node.attr}"))
  assert not offenders, offenders


def test_the_training_loop_fits_on_one_screen():
  tree = MODULES["ddf.train_lib"]
  (loop,) = [
    n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train_and_evaluate"
  ]
  assert loop.end_lineno - loop.lineno + 1 <= 70
