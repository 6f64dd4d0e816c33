"""What an alert channel is, and the registry that finds one by its config's ``type``.

One class per channel, each with a single ``notify`` (as Prefect's notification blocks), registered under
the ``type`` literal of its config model in config/alerts.py (as GX keys its data sources): that literal is
the only name a channel has, so the YAML, the union and the registry cannot disagree on it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar, cast, get_args

from pydantic import BaseModel

from driftwarden.config.model import ModelConfig
from driftwarden.flows.notify.secrets import resolve_secret, scrub

# Any channel's config model (its ``type`` literal is its key); a new channel needs no edit here.
ConfigT = TypeVar("ConfigT", bound=BaseModel)
RemoteT = TypeVar("RemoteT", bound=BaseModel)
N = TypeVar("N", bound="Notifier[Any]")


class DeliveryError(Exception):
    """A delivery attempt failed; ``permanent`` ones are not retried within the run."""

    def __init__(self, text: str, permanent: bool = False):
        super().__init__(text)
        self.permanent = permanent


class Notifier(ABC, Generic[ConfigT]):
    """One configured channel, built from its config model and the model's config (which resolves relative
    paths). ``send`` delivers one stored message (a JSON object: title, text, severity, conditions...)."""

    kind: ClassVar[str]
    """The ``type`` literal of the config model it serves (set by ``register_channel``)."""
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, name: str, config: ConfigT, model: ModelConfig):
        self.name = name
        self.config = config
        self.model = model

    def send(self, payload: dict[str, Any]) -> None:
        """One message, one attempt; a local channel's error is raised as it came."""
        self.notify(payload, None)

    @abstractmethod
    def notify(self, payload: dict[str, Any], secret: str | None) -> None:
        """One delivery attempt, with the channel's secret (resolved just now) if it has one."""


class RemoteNotifier(Notifier[RemoteT]):
    """A channel over the network: its secret is resolved at send time, ``attempts`` tries are made one second
    apart (a permanent error is not retried), and every error is scrubbed of the secret. Raises DeliveryError."""

    secret_field: ClassVar[str]
    """The config field that holds the secret's reference (``url``, ``password``); it may be unset."""

    def __init__(self, name: str, config: RemoteT, model: ModelConfig, secret_at: str | None = None):
        super().__init__(name, config, model)
        # where the secret's reference is written: the error that says it cannot be resolved names it
        self.secret_at = secret_at or f"alerts.channels.{name}.{self.secret_field}"

    def send(self, payload: dict[str, Any]) -> None:
        reference: str | None = getattr(self.config, self.secret_field)
        secret = resolve_secret(reference, self.secret_at) if reference else None
        attempts = int(cast(Any, self.config).attempts)  # every remote channel's config has it (config/alerts.py)
        for attempt in range(attempts):
            try:
                self.notify(payload, secret)
                return
            except DeliveryError as exc:
                error = DeliveryError(scrub(str(exc), secret), exc.permanent)
            except Exception as exc:
                error = DeliveryError(scrub(f"{type(exc).__name__}: {exc}", secret))
            if error.permanent or attempt + 1 == attempts:
                raise error
            time.sleep(1.0)


CHANNELS: dict[str, type[Notifier[Any]]] = {}
"""Channel type (the config model's ``type`` literal) -> its class."""


def channel_type(config_model: type[BaseModel]) -> str:
    """The ``type`` literal of a channel's config model: ``SlackChannel`` -> ``"slack"``."""
    field = config_model.model_fields.get("type")
    values = get_args(field.annotation) if field is not None else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{config_model.__name__} needs a field `type: Literal[...]` with one value")
    return values[0]


def register_channel(config_model: type[BaseModel]) -> Callable[[type[N]], type[N]]:
    """Register the class that delivers the channels of this config model: ``@register_channel(SlackChannel)``."""
    key = channel_type(config_model)

    def register(cls: type[N]) -> type[N]:
        known = CHANNELS.get(key)
        if known is not None and _path(known) != _path(cls):  # the same class again is a module reloaded
            raise ValueError(f"channel type {key!r} is registered twice: {_path(known)} and {_path(cls)}")
        cls.kind, cls.config_model = key, config_model
        CHANNELS[key] = cls
        return cls

    return register


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def notifier_class(kind: str) -> type[Notifier[Any]]:
    """The class registered for a channel type."""
    cls = CHANNELS.get(kind)
    if cls is None:
        known = ", ".join(sorted(CHANNELS))
        raise DeliveryError(
            f"no channel is registered for type {kind!r}; the registered types are {known}", permanent=True
        )
    return cls


def notifier_for(name: str, config: BaseModel, model: ModelConfig) -> Notifier[Any]:
    """The channel ``alerts.channels.<name>`` of a model, ready to send."""
    kind = getattr(config, "type", None)
    return notifier_class(str(kind))(name, config, model)
