"""Where report files live: a local folder (the default) or any fsspec URL (``s3://…``, ``file://…``,
``memory://…``), so that several machines can share them. Paths are joined as URLs (``/``), never as
``pathlib`` paths, which would turn ``s3://b/x`` into ``s3:/b/x``."""

from __future__ import annotations

import os
import posixpath
import shutil
import uuid
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


def remove(uri: str) -> bool:
    """Delete a file; False when it was not there."""
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        return False
    fs.rm_file(path)
    return True


def put_once(local: str, uri: str) -> bool:
    """Place the local file ``local`` at ``uri`` unless a file of its size is there already (one stat, no
    read): for a file many pages share, such as Evidently's scripts. It is written under a temporary name
    beside ``uri`` and renamed, so that no page ever loads half of it and two writers at once leave one whole
    file. True when this call wrote it."""
    size = os.path.getsize(local)
    fs, path = fsspec.core.url_to_fs(uri)
    try:
        if fs.size(path) == size:
            return False
    except FileNotFoundError:
        pass
    folder = posixpath.dirname(path) if is_url(uri) else str(Path(path).parent)
    fs.makedirs(folder, exist_ok=True)
    temp = f"{folder}/.{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp"
    try:
        if is_url(uri):
            fs.put_file(local, temp)
            fs.mv(temp, path)
        else:
            shutil.copyfile(local, temp)
            os.replace(temp, path)  # atomic on one filesystem: a reader sees the old file or the new one
    except BaseException:
        if fs.exists(temp):
            fs.rm_file(temp)
        raise
    return True
