"""Config loading and mmengine Runner entry points for the segmentation configs (tools/train.py style)."""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

__all__ = ["ADE20K_SPLITS", "check_ade20k_root", "load_config", "train", "evaluate"]

ADE20K_SPLITS = ("training", "validation")
_DATALOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
_NO_WEIGHTS_ONLY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


def check_ade20k_root(data_root: str | os.PathLike) -> Path:
    """Check the ADE20K (SceneParsing) layout mmseg reads and return the root.

    Expected: ``<root>/images/{training,validation}/*.jpg`` and
    ``<root>/annotations/{training,validation}/*.png`` (``root`` is usually ``.../ADEChallengeData2016``).
    """
    root = Path(data_root)
    missing = [
        str(root / kind / split)
        for kind in ("images", "annotations")
        for split in ADE20K_SPLITS
        if not (root / kind / split).is_dir()
    ]
    if missing:
        raise FileNotFoundError(
            f"ADE20K not found under {root}: missing {', '.join(missing)}. Expected the ADEChallengeData2016 "
            "layout (images/{training,validation}/*.jpg, annotations/{training,validation}/*.png), e.g. "
            "unzipped from ADEChallengeData2016.zip; this project downloads no data."
        )
    return root


def load_config(
    config: str | os.PathLike,
    work_dir: str | os.PathLike | None = None,
    data_root: str | os.PathLike | None = None,
    cfg_options: dict[str, Any] | None = None,
    resume: bool | str = False,
    launcher: str = "none",
) -> Config:
    """Read ``config`` and apply the command-line overrides.

    Args:
        work_dir: output folder (default ``./work_dirs/<config name>``).
        data_root: ADE20K root for every dataloader (checked with :func:`check_ade20k_root`).
        cfg_options: ``--cfg-options`` key/value pairs, merged last.
        resume: False, True (latest checkpoint in ``work_dir``) or a checkpoint path.
        launcher: 'none' (one process, CPU or one GPU) or 'pytorch' / 'slurm' / 'mpi' (distributed).
    """
    if launcher not in ("none", "pytorch", "slurm", "mpi"):
        raise ValueError(f"launcher must be one of none, pytorch, slurm, mpi; got {launcher!r}")
    cfg = Config.fromfile(str(config))  # imports custom_imports, as mmseg's tools/train.py does
    cfg.launcher = launcher
    if data_root is not None:
        root = str(check_ade20k_root(data_root))
        for loader in _DATALOADERS:
            if loader in cfg:
                cfg[loader].dataset.data_root = root
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif cfg.get("work_dir") is None:
        cfg.work_dir = str(Path("work_dirs") / Path(config).stem)
    if isinstance(resume, str):
        cfg.load_from, cfg.resume = resume, True
    else:
        cfg.resume = bool(resume)
    return cfg


@contextmanager
def _runner_checkpoints_loadable(enabled: bool) -> Iterator[None]:
    """While active, let ``torch.load`` read Runner checkpoints (only do this for checkpoints you trust).

    mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6 that refuses Runner
    checkpoints, which pickle mmengine's HistoryBuffer and numpy scalars (mmengine PR #1650 is open).
    """
    if not enabled or _NO_WEIGHTS_ONLY in os.environ:
        yield
        return
    os.environ[_NO_WEIGHTS_ONLY] = "1"
    try:
        yield
    finally:
        os.environ.pop(_NO_WEIGHTS_ONLY, None)


def train(cfg: Config, hooks: Sequence[Hook] = ()) -> Runner:
    """Train (with the config's validation interval), with extra ``hooks``; return the finished Runner."""
    with _runner_checkpoints_loadable(bool(cfg.get("resume")) or cfg.get("load_from") is not None):
        runner = Runner.from_cfg(cfg)
        for hook in hooks:
            runner.register_hook(hook)
        runner.train()
    return runner


def evaluate(cfg: Config, checkpoint: str | os.PathLike) -> dict[str, float]:
    """Evaluate ``checkpoint`` on the config's test split (ADE20K: validation); returns the metrics."""
    cfg.load_from = str(checkpoint)
    cfg.resume = False
    with _runner_checkpoints_loadable(True):
        return Runner.from_cfg(cfg).test()
