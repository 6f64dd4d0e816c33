"""JSON lines appended to a local file: alerts without a network (the demo, a log shipper)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from driftwarden.config.alerts import FileChannel
from driftwarden.flows.notify.channels.base import Notifier, register_channel


@register_channel(FileChannel)
class FileNotifier(Notifier[FileChannel]):
    def notify(self, payload: dict[str, Any], secret: str | None) -> None:
        path = Path(self.model.resolve(self.config.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({**payload, "channel": self.name}, default=str) + "\n")
