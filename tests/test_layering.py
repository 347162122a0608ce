"""The import layering written in `mimjax/__init__.py`, enforced: each
subpackage imports only the subpackages its layer allows, and only through
their public names; `mimjax.losses` needs jax alone."""

import ast
import os
import subprocess
import sys

import mimjax

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE = os.path.join(_ROOT, "mimjax")


def _imports(path):
  """(module path, imported names) of every `mimjax` import in `path`."""
  tree = ast.parse(open(path, encoding="utf-8").read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and (
        node.module == "mimjax" or node.module.startswith("mimjax.")
    ):
      yield node.module, [alias.name for alias in node.names]
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith("mimjax"):
          yield alias.name, []


def _violations(package):
  allowed = set(mimjax.LAYERS[package]) | {package}
  found = []
  folder = os.path.join(_PACKAGE, package)
  for name in sorted(os.listdir(folder)):
    if not name.endswith(".py"):
      continue
    path = os.path.join(package, name)
    for module, names in _imports(os.path.join(folder, name)):
      parts = module.split(".")[1:]
      if not parts:  # from mimjax import X / import mimjax
        targets = [n for n in names if n in mimjax.LAYERS]
        found += [f"{path}: mimjax.{t}" for t in targets if t not in allowed]
        continue
      target = parts[0]
      if target in mimjax.SHARED:
        continue
      if target not in allowed:
        found.append(f"{path}: {module}")
      elif target != package and (
          any(p.startswith("_") for p in parts[1:])
          or any(n.startswith("_") for n in names)
      ):
        found.append(f"{path}: {module} (private)")
  return found


def test_every_subpackage_is_in_a_layer():
  packages = {
      n for n in os.listdir(_PACKAGE)
      if os.path.isfile(os.path.join(_PACKAGE, n, "__init__.py"))
  }
  assert packages == set(mimjax.LAYERS)


def test_subpackages_import_only_their_layers_public_names():
  found = [v for package in mimjax.LAYERS for v in _violations(package)]
  assert not found, found


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
  """A losses module importing flax-dependent `distributions` fails."""
  folder = tmp_path / "losses"
  folder.mkdir()
  (folder / "_bad.py").write_text(
      "from mimjax import distributions\nfrom mimjax.metrics import _bits\n"
  )
  monkeypatch.setattr(sys.modules[__name__], "_PACKAGE", str(tmp_path))
  assert len(_violations("losses")) == 2


def test_losses_import_needs_jax_alone():
  probe = (
      "import sys, mimjax.losses\n"
      "heavy = [m for m in ('flax', 'optax', 'orbax', 'distrax', 'sklearn',"
      " 'matplotlib', 'tensorflow_probability', 'mimjax.distributions')"
      " if m in sys.modules]\n"
      "print(heavy)"
  )
  proc = subprocess.run([sys.executable, "-c", probe], cwd=_ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
