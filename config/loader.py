"""Read a model's YAML into a ``ModelConfig``, with errors that name the file, the key and the expectation."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from driftwarden.config.model import ModelConfig


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the offending keys."""


def _short(text: str, limit: int = 200) -> str:
    """A value as shown in a message: a config may hold a megabyte in one key."""
    return text if len(text) <= limit else text[:limit] + "..."


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid model config"]
    for err in exc.errors():
        loc = list(err["loc"])
        bad_key = err["type"] == "invalid_key" or loc[-1:] == ["[key]"]
        if bad_key:  # pydantic names a key true (YAML's unquoted yes, on, true) by its position as 1: name it
            loc = [*loc[:-2], err["input"]] if loc[-1:] == ["[key]"] else [*loc[:-1], err["input"]]
        key = ".".join(_short(str(p)) for p in loc)
        msg = _short(err["msg"].removeprefix("Value error, "), 500)
        if bad_key:
            given = err["input"]
            lines.append(
                f"  {key}: a key must be text (YAML reads {given!r} unquoted as a {type(given).__name__}: quote it)"
            )
        elif err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        elif err["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        elif not key:  # a check across keys: its message starts with the key it is about
            lines.append(f"  {msg}")
        else:
            given = err.get("input")
            shown = "" if isinstance(given, dict | list) or repr(given) in msg else f" (got {_short(repr(given))})"
            lines.append(f"  {key}: {msg}{shown}")
    return "\n".join(lines)


def _key_at(text: str, mark: yaml.Mark | None) -> str | None:
    """The dotted key whose value starts at ``mark`` (the node is composed, never constructed)."""
    if mark is None:
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    todo: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while todo:
        node, key = todo.pop()
        if node.start_mark.index == mark.index and key:
            return key
        if isinstance(node, yaml.MappingNode):
            todo += [(v, f"{key}.{k.value}" if key else str(k.value)) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            todo += [(v, f"{key}.{i}") for i, v in enumerate(node.value)]
    return None


def _yaml_error(path: Path, text: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(exc.problem):
        tag = _short(str(exc.problem).split("tag", 1)[1].strip(" '").replace("tag:yaml.org,2002:", "!!"), 100)
        key = _key_at(text, mark) or "(a value)"
        return f"{path}: {key}{where}: the YAML tag {tag!r} is not allowed (plain values, lists and mappings only)"
    return f"{path}: not valid YAML{where}: {_short(str(exc), 500)}"


def load_model_config(path: str | Path) -> ModelConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_error(path, text, exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    if "base_dir" in data:
        raise ConfigError(f"{path}: base_dir: unknown key (it is set from the file's location)")
    data["base_dir"] = path.resolve().parent
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
