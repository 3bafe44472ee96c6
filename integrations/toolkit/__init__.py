"""What every integration shares: checkpoints, files, process groups, wavelet names, the model
registry and the command-line runner.

- :mod:`.checkpoint`: the one safetensors checkpoint format (format tag, model name, config JSON,
  command, ``extra`` with the lineage under ``extra["init"]``), written atomically, never over an
  existing file unless forced.
- :mod:`.files`: the one atomic writer (bytes, ``torch.save`` objects) and log appenders.
- :mod:`.distributed`: :class:`ProcessGroup`, joining ``torchrun``'s process group or a single process.
- :mod:`.wavelets`: the wavelet names the integrations offer (``'none'`` = baseline).
- :mod:`.registry`: ``create_model(name, **kwargs)`` over every integration's registered models.
- :mod:`.cli`: ``python -m <package>.<integration> <verb> ...`` dispatch and error reporting.
"""
from .checkpoint import lineage, load_weights, read_checkpoint, read_metadata, save_checkpoint, state_tensors
from .distributed import ProcessGroup
from .files import append_csv, append_jsonl, load_torch, save_torch, write_atomic
from .registry import create_model, is_model, list_models, register_model
from .wavelets import WAVELETS, check_wavelet

__all__ = [
    "save_checkpoint", "read_checkpoint", "read_metadata", "load_weights", "state_tensors", "lineage",
    "ProcessGroup", "write_atomic", "save_torch", "load_torch", "append_csv", "append_jsonl",
    "create_model", "register_model", "list_models", "is_model", "WAVELETS", "check_wavelet",
]
