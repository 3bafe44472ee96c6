"""The segmentation configs name their plugin by an import name that exists both in this checkout
and in the installed wheel; read as text, so it runs without the mmseg stack."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "integrations" / "segmentation" / "configs"
PLUGIN = "wavelayers_integrations.segmentation"  # setup.py installs integrations/ as wavelayers_integrations


def _custom_imports(path: Path) -> dict | None:
    for node in ast.parse(path.read_text()).body:
        targets = [t.id for t in getattr(node, "targets", ()) if isinstance(t, ast.Name)]
        if isinstance(node, ast.Assign) and targets == ["custom_imports"]:
            call = node.value
            assert isinstance(call, ast.Call) and call.func.id == "dict", ast.dump(call)
            return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    return None


def test_configs_import_the_plugin_by_its_installed_name() -> None:
    found = {p.name: _custom_imports(p) for p in sorted(CONFIGS.glob("*.py"))}
    named = {name: c for name, c in found.items() if c is not None}
    assert named, "no config imports the plugin"
    for name, imports in named.items():
        assert imports == dict(imports=[PLUGIN], allow_failed_imports=False), name
    assert f"custom_imports = dict(imports=['{PLUGIN}'], allow_failed_imports=False)" in (
        REPO / "docs" / "segmentation.md").read_text()


def test_installed_name_is_this_checkouts_folder() -> None:
    """In a checkout set up by tools/setup_env.sh the editable install maps the name onto integrations/."""
    spec = importlib.util.find_spec(PLUGIN)
    if spec is None:
        pytest.skip(f"{PLUGIN} is not importable: run bash tools/setup_env.sh (pip install -e .)")
    assert [Path(p).resolve() for p in spec.submodule_search_locations] == [
        (REPO / "integrations" / "segmentation").resolve()]
