"""The key that turns masked (PII) values into tokens: ``DRIFTWARDEN_MASK_KEY``, or a random key kept in
the driftwarden home (created once, readable by its owner only). Machines sharing a store must share the key:
set ``DRIFTWARDEN_MASK_KEY`` on each, or tokens of the same value differ between them."""

from __future__ import annotations

import os
import secrets

from driftwarden.config.settings import get_settings


def mask_key() -> bytes:
    settings = get_settings()
    if settings.mask_key is not None:
        return settings.mask_key.get_secret_value().encode()
    path = settings.home / "mask.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
