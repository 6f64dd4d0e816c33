"""Secrets at delivery time: a webhook URL or an SMTP password is read only when a message is sent, and every
error text is scrubbed of it before it is logged or stored."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, cast

from driftwarden.config.alerts import SECRET_BLOCK
from driftwarden.config.settings import env_secret


def resolve_secret(reference: str, where: str) -> str:
    """The value behind ``${VAR}`` (the environment) or ``{{ prefect.blocks.secret.name }}`` (a Prefect
    Secret block). A secret: never log, store or render it."""
    block = re.fullmatch(SECRET_BLOCK, reference.strip())
    if block is None:
        return env_secret(reference, where)
    from prefect.blocks.system import Secret

    try:
        loaded = cast("Secret[Any]", Secret.load(block.group(1)))  # called from sync code: the block itself
        value = loaded.get()
    except ValueError as exc:
        raise KeyError(f"{where}: Prefect Secret block {block.group(1)!r} cannot be loaded: {exc}") from None
    return str(value)


def scrub(text: str, secret: str | None) -> str:
    """The text without the secret, nor any part of it long enough to matter (an error may quote a URL's
    path and query, where a webhook's token lives, or its user and password)."""
    if not secret:
        return text
    parts = {secret, secret.strip()}
    try:
        url = urllib.parse.urlsplit(secret.strip())
        parts |= {url.netloc, url.path, url.query, f"{url.path}?{url.query}", url.username or "", url.password or ""}
        parts |= {urllib.parse.unquote(p) for p in list(parts)}
    except ValueError:
        pass
    for part in sorted((p for p in parts if len(p) >= 6), key=len, reverse=True):
        text = text.replace(part, "***")
    return text


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
