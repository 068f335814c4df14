"""Controller checkpoints as safetensors (no pickle), with the model's contract checked on loading.

The file's metadata holds the :class:`~.model.ControllerConfig` as JSON and its :func:`~.model.config_hash`;
:func:`load_checkpoint` rebuilds the model from the config and refuses the file when the hash this version of
the code computes for that config differs (features, bands, heads or architecture changed since training), or
when the weights do not fit the model. :data:`SHIPPED` is the checkpoint in ``reaper_automix/models/``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import AutomixError
from .model import ControllerConfig, MixController, config_hash

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "controller.safetensors"  # package data: the wheel ships it


@dataclass(frozen=True)
class LoadedController:
    model: MixController
    path: Path
    sha256: str  # of the file's bytes (the report names the checkpoint by it)
    config_hash: str


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(model: MixController, path: Path, extra: dict[str, str] | None = None) -> str:
    """Write ``model`` to ``path`` atomically; returns the file's SHA-256."""
    from safetensors.torch import save_file

    path = Path(path)
    metadata = {"config": json.dumps(asdict(model.config)), "config_hash": config_hash(model.config),
                "format": "reaper-automix-controller"} | (extra or {})
    tmp = path.with_name(f".{path.name}.tmp")
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)
    return file_sha256(path)


def load_checkpoint(path: Path = SHIPPED) -> LoadedController:
    """The model in ``path``, in eval mode (see the module docstring for what is checked)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        hint = " (the shipped model is missing from this installation; reinstall, or train one with " \
               "`reaper-automix train`)" if path == SHIPPED else ""
        raise AutomixError(f"controller checkpoint {path} not found{hint}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise AutomixError(f"{path} is not a readable safetensors checkpoint: {exc}") from exc
    if metadata.get("format") != "reaper-automix-controller" or "config" not in metadata:
        raise AutomixError(f"{path} is not a reaper-automix controller checkpoint (no controller metadata)")
    try:
        config = ControllerConfig(**json.loads(metadata["config"]))
    except (TypeError, ValueError) as exc:
        raise AutomixError(f"{path}: its model config does not fit this version ({exc}); retrain with "
                           f"`reaper-automix train`") from exc
    expected = config_hash(config)
    stored = metadata.get("config_hash")
    if stored != expected:
        raise AutomixError(
            f"{path} was trained for another controller contract (config hash {stored}, this version expects "
            f"{expected}: features, EQ bands, output ranges or architecture differ); retrain with "
            f"`reaper-automix train` or use the version it was made with")
    model = MixController(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise AutomixError(f"{path}: the weights do not fit the model its config describes: {exc}") from exc
    model.eval()
    return LoadedController(model, path, file_sha256(path), expected)
