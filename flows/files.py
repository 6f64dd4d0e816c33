"""Where report files live: a local folder (the default) or any fsspec URL (``s3://…``, ``file://…``,
``memory://…``), so that several machines can share them. Paths are joined as URLs (``/``), never as
``pathlib`` paths, which would turn ``s3://b/x`` into ``s3:/b/x``."""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable
from pathlib import Path

import fsspec


def is_url(location: str) -> bool:
    return "://" in location


def join(base: str, *names: str) -> str:
    return "/".join([base.rstrip("/"), *names]) if is_url(base) else str(Path(base, *names))


def sibling(uri: str, name: str) -> str:
    """The file ``name`` in the same folder as ``uri``."""
    return join(uri.rsplit("/", 1)[0], name) if is_url(uri) else str(Path(uri).with_name(name))


def name(uri: str) -> str:
    return posixpath.basename(uri) if is_url(uri) else Path(uri).name


def stem(uri: str) -> str:
    return name(uri).rsplit(".", 1)[0]


def exists(uri: str) -> bool:
    fs, path = fsspec.core.url_to_fs(uri)
    return bool(fs.exists(path))


def write_text(uri: str, text: str) -> str:
    fs, path = fsspec.core.url_to_fs(uri)
    fs.makedirs(posixpath.dirname(path) if is_url(uri) else str(Path(path).parent), exist_ok=True)
    with fs.open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return uri


def write_with(uri: str, render: Callable[[str], None]) -> str:
    """Let ``render`` write a local file (e.g. Evidently's ``save_html``), then place it at ``uri``."""
    if not is_url(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        render(uri)
        return uri
    with tempfile.TemporaryDirectory() as tmp:
        local = str(Path(tmp) / name(uri))
        render(local)
        fs, path = fsspec.core.url_to_fs(uri)
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        fs.put_file(local, path)
    return uri


def remove(uri: str) -> bool:
    """Delete a file; False when it was not there."""
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        return False
    fs.rm_file(path)
    return True
