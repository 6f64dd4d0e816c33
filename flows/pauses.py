"""A testing aid: a run held at a named stage (``DRIFTWARDEN_TEST_PAUSE_AT``) so that a test can kill it there
and check what the next run finds. Unset, each pause point costs one cached settings lookup."""

from __future__ import annotations

import os
import time

from driftwarden.config.settings import get_settings

HOLD_SECONDS = 600
"""Long enough for any test to kill the run; the run then goes on as if nothing happened."""


def pause_at(stage: str) -> None:
    """At ``stage``, when the setting names it: write ``home/paused-at-<stage>`` with this pid, then sleep."""
    settings = get_settings()
    if settings.test_pause_at != stage:
        return
    marker = settings.home.resolve() / f"paused-at-{stage}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    time.sleep(HOLD_SECONDS)
