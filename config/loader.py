"""Read a model's YAML into a ``ModelConfig``, with errors that name the file, the key and the expectation."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from driftwarden.config.model import ModelConfig


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the offending keys."""


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid model config"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        elif err["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            given = err.get("input")
            shown = "" if isinstance(given, dict | list) or repr(given) in err["msg"] else f" (got {given!r})"
            lines.append(f"  {key}: {err['msg']}{shown}")
    return "\n".join(lines)


def load_model_config(path: str | Path) -> ModelConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    if "base_dir" in data:
        raise ConfigError(f"{path}: base_dir: unknown key (it is set from the file's location)")
    data["base_dir"] = path.resolve().parent
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
