"""What every flow shares: the task options (retries for I/O that may come back, none for pure steps), and the
first steps of a run: its config, its window, its as-of time, a time a user typed."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, ParamSpec, TypedDict, TypeVar

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE, CachePolicy

from driftwarden.checks.windows import Window, scheduled_window, window_ending_at
from driftwarden.config.loader import ConfigError, load_model_config
from driftwarden.config.model import ModelConfig
from driftwarden.flows.errors import DriftwardenError, SourceUnavailable


def is_transient(exc: BaseException) -> bool:
    """I/O that may come back (a locked database, a network blip), never a user's bad input."""
    if isinstance(exc, SourceUnavailable):
        return True
    if _lasting(exc):
        return False
    return isinstance(exc, Exception) and not isinstance(
        exc, (DriftwardenError, ConfigError, ValueError, KeyError, LookupError)
    )


def _lasting(exc: BaseException) -> bool:
    """A full or read-only disk, or a file that is not a database: it stays so for the retries' few seconds."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    return getattr(exc, "errno", None) in (28, 30, 122) or any(  # ENOSPC, EROFS, EDQUOT
        s in text for s in ("disk is full", "database is full", "readonly database", "not a database", "malformed")
    )


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O that may come back, never a user's bad input (Prefect's retry condition)."""
    try:
        state.result()
    except BaseException as exc:
        return is_transient(exc)
    return False


class TaskOptions(TypedDict, total=False):
    """Keyword options of ``prefect.task``, typed so that ``@task(**IO)`` type-checks."""

    retries: int
    retry_delay_seconds: list[float]
    retry_condition_fn: Callable[[Any, Any, Any], bool]
    cache_policy: CachePolicy


IO: TaskOptions = {
    "retries": 2,
    "retry_delay_seconds": [1, 5],
    "retry_condition_fn": _transient,
    "cache_policy": NO_CACHE,
}
PURE: TaskOptions = {"cache_policy": NO_CACHE}

P = ParamSpec("P")
R = TypeVar("R")
_inline: ContextVar[bool] = ContextVar("driftwarden_inline_steps", default=False)


class Step(Generic[P, R]):
    """A named step of a flow: a Prefect task run when called in a flow run, a plain call (with the same
    retries) inside ``inline_steps()``. A backfill replays hundreds of windows in one flow run; a task run
    costs tens of milliseconds of API round trips, more than a small window's statistics."""

    def __init__(self, fn: Callable[P, R], options: TaskOptions, name: str | None = None):
        self.fn = fn
        self.options = options
        self.task = task(fn, name=name, **options)  # type: ignore[call-overload]
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if not _inline.get():
            return self.task(*args, **kwargs)  # type: ignore[no-any-return]
        delays = list(self.options.get("retry_delay_seconds") or [])
        for attempt in range(self.options.get("retries", 0) + 1):
            try:
                return self.fn(*args, **kwargs)
            except Exception as exc:
                retried = is_transient(exc) if "retry_condition_fn" in self.options else True
                if attempt >= self.options.get("retries", 0) or not retried:
                    raise
                time.sleep(delays[min(attempt, len(delays) - 1)] if delays else 0)
        raise AssertionError("unreachable")


def step(options: TaskOptions, name: str | None = None) -> Callable[[Callable[P, R]], Step[P, R]]:
    """``@step(IO)`` / ``@step(PURE)``: declare a flow step (see ``Step``)."""

    def wrap(fn: Callable[P, R]) -> Step[P, R]:
        return Step(fn, options, name)

    return wrap


@contextmanager
def inline_steps() -> Iterator[None]:
    """Within the block, steps run as plain calls in the current flow run (no task run of their own)."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


@step(PURE)
def load_config(config_path: str) -> ModelConfig:
    return load_model_config(config_path)


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")


def parse_time(value: str, what: str, tz: str = "UTC") -> pd.Timestamp:
    """A time given by a user: ISO text, read in ``tz`` when it has no offset; the error names ``what``."""
    try:
        if not _ISO.match(str(value).strip()):  # 15/10/2026 or 10/11/2026: day or month first is a guess
            raise ValueError(value)
        t = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{what}: {value!r} is not a time (use ISO 8601, e.g. 2026-10-15 or 2026-10-15T06:00)"
        ) from exc
    if t is pd.NaT:
        raise ValueError(f"{what}: {value!r} is not a time")
    if t.tzinfo is not None:
        return t
    try:
        return t.tz_localize(tz)
    except Exception as exc:  # pytz's NonExistentTimeError / AmbiguousTimeError are not ValueErrors
        kind = "does not exist" if "NonExistent" in type(exc).__name__ else "happens twice"
        raise ValueError(
            f"{what}: {value!r} {kind} in {tz} (a DST change): give the offset, e.g. {t.isoformat()}+01:00"
        ) from exc


def scheduled_time() -> pd.Timestamp:
    """When this flow run was meant to start: a run a worker picks up late, or a retry, still monitors the
    window its schedule meant (now, outside a flow run or for a run started by hand)."""
    from prefect.runtime import flow_run

    return pd.Timestamp(flow_run.scheduled_start_time).tz_convert("UTC")


@step(PURE)
def resolve_window(cfg: ModelConfig, window_end: str | None) -> Window:
    tz = cfg.window.timezone
    if window_end is None:  # a scheduled run: the last window whose data had landed by its scheduled time
        return scheduled_window(scheduled_time(), cfg.window_length, tz, cfg.lateness)
    window = window_ending_at(parse_time(window_end, "window_end", tz), cfg.window_length, tz)
    now = pd.Timestamp.now(tz="UTC")
    if window.end > now:  # its predictions and labels are not all in: an 'ok' now would be a verdict on half a window
        raise ValueError(
            f"window_end {window_end}: the window {window.label} has not ended yet (now is "
            f"{now.tz_convert(tz):%Y-%m-%d %H:%M %Z}); monitor it once it has"
        )
    return window


@step(PURE)
def resolve_as_of(as_of: str | None) -> pd.Timestamp:
    return parse_time(as_of, "as_of") if as_of else pd.Timestamp.now(tz="UTC")
