"""The wheel, built from this checkout and installed (non-editable) into a fresh virtual environment,
imports ``wavelayers``, installs no top-level ``integrations`` and, run from another directory, codes
and decodes an image with the shipped weights to the same bytes as the checkout does.

The temporary venv gets the wheel with ``--no-deps``; a ``.pth`` file points it at the site-packages
of the interpreter running the tests, so torch, compressai and the rest are reused instead of
downloaded. ``.pth`` files inside that folder are not processed (only a venv's own site-packages
are), so the checkout's editable install (and its ``integrations`` link) stays invisible there.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import torch

from integrations.compression.imageio import load_rgb, to_uint8
from integrations.lic.codec import compress_image, decompress_image, load_model
from integrations.lic.weights import WEIGHTS_DIR, manifest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("single_thread_module")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert run.returncode == 0, f"{cmd} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run


def _source_copy(dst: Path) -> Path:
    """The files git would commit (tracked and new, not ignored), copied to ``dst``: no build/ or .venv."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files are sources")
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():  # a deleted-but-still-indexed file is skipped
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel, install it into a fresh venv; returns the wheel and the venv's python."""
    tmp = tmp_path_factory.mktemp("packaging")
    src = _source_copy(tmp / "src")
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
          "-w", str(tmp / "dist")])
    wheel = next((tmp / "dist").glob("wavelayers-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(site, "reuse-test-interpreter.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {"wheel": wheel, "python": str(python), "cwd": work, "env": {**env, "OMP_NUM_THREADS": "1"}}


@pytest.mark.slow
def test_wheel_holds_the_core_the_renamed_integrations_and_the_weights(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"wavelayers", "wavelayers_integrations"}
    sources = {p.relative_to(ROOT).as_posix() for folder in ("wavelayers", "integrations")
               for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts}
    packaged = {n.replace("wavelayers_integrations/", "integrations/", 1) for n in names if n.endswith(".py")}
    assert sources <= packaged, f"source files missing from the wheel: {sorted(sources - packaged)}"
    for file in [*manifest(), "manifest.json"]:
        assert f"wavelayers_integrations/lic/shipped/{file}" in names
    for source in (ROOT / "wavelayers" / "csrc").iterdir():  # the native backend compiles from these
        assert f"wavelayers/csrc/{source.name}" in names


@pytest.mark.slow
def test_installed_wheel_imports_from_another_directory(installed):
    script = (
        "import importlib.util, pathlib, sys, wavelayers, wavelayers_integrations.lic.weights as w\n"
        "assert importlib.util.find_spec('integrations') is None, 'a top-level integrations is importable'\n"
        "print(pathlib.Path(wavelayers.__file__).parent)\n"
        "print(w.WEIGHTS_DIR)\n"
        "from wavelayers import _native\n"
        "print(_native.status())\n"
    )
    out = _run([installed["python"], "-c", script], cwd=installed["cwd"], env=installed["env"]).stdout.split()
    site = Path(installed["python"]).parents[1]
    assert Path(out[0]).is_relative_to(site) and Path(out[1]).is_relative_to(site)  # not the checkout
    assert out[2] == "ok"  # the native backend builds from the wheel's sources
    assert sorted(p.name for p in Path(out[1]).glob("*.safetensors")) == sorted(
        p.name for p in WEIGHTS_DIR.glob("*.safetensors"))


@pytest.mark.slow
def test_installed_cli_codes_bit_exactly_as_the_checkout(installed, tmp_path):
    from PIL import Image
    from skimage import data as skdata

    entry = min(manifest().values(), key=lambda e: e["quality"])
    image = installed["cwd"] / "crop.png"
    Image.fromarray(skdata.chelsea()[40:136, 100:228]).save(image)  # 96 x 128
    cli = [installed["python"], "-m", "wavelayers_integrations.lic"]
    run = lambda *a: _run([*cli, *a], cwd=installed["cwd"], env=installed["env"])  # noqa: E731
    c = run("compress", "crop.png", "crop.wlic", "--quality", str(entry["quality"]), "--force")
    assert entry["model_id"] in c.stdout and "UNTRAINED" not in c.stderr
    d = run("decompress", "crop.wlic", "crop-decoded.png", "--force")
    assert "UNTRAINED" not in d.stderr

    model = load_model(name=entry["model"], quality=entry["quality"])
    data, _ = compress_image(model, load_rgb(image), reconstruct=False)
    assert (installed["cwd"] / "crop.wlic").read_bytes() == data
    with torch.no_grad():
        expected = to_uint8(decompress_image(model, data))
    decoded = to_uint8(load_rgb(installed["cwd"] / "crop-decoded.png"))
    assert (decoded == expected).all()


_SEGMENTATION_SCRIPT = """
import ast, importlib.util, json, pathlib
folder = pathlib.Path(importlib.util.find_spec('wavelayers_integrations.segmentation').submodule_search_locations[0])
names, loaded = set(), None
for config in sorted((folder / 'configs').glob('*.py')):
    for node in ast.parse(config.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'custom_imports':
            names |= {n for kw in node.value.keywords if kw.arg == 'imports' for n in ast.literal_eval(kw.value)}
            try:
                import mmcv.ops, mmseg.models  # the full stack, as tests/test_segmentation.py needs
            except (ImportError, AssertionError):
                continue
            from mmengine.config import Config
            from mmseg.registry import MODELS
            cfg = Config.fromfile(str(config))  # imports custom_imports
            loaded = MODELS.get(cfg.model.backbone.type).__module__
specs = {n: importlib.util.find_spec(n) for n in names}
print(json.dumps({'folder': str(folder), 'origins': {n: s and s.origin for n, s in specs.items()}, 'loaded': loaded}))
"""


@pytest.mark.slow
def test_installed_segmentation_configs_import_their_plugin(installed):
    """The shipped configs' custom_imports resolve in the installed wheel (and, with the mmseg stack,
    a config load registers the wheel's WaveResNetV1c)."""
    import json

    run = _run([installed["python"], "-c", _SEGMENTATION_SCRIPT], cwd=installed["cwd"], env=installed["env"])
    out = json.loads(run.stdout.strip().splitlines()[-1])
    site = Path(installed["python"]).parents[1]
    assert Path(out["folder"]).is_relative_to(site)
    assert out["origins"] and all(o is not None and Path(o).is_relative_to(site) for o in out["origins"].values())
    assert out["loaded"] in (None, "wavelayers_integrations.segmentation.backbone")
