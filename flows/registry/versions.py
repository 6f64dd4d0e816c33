"""The model registry: versioned models on disk (or any fsspec URL) with their metadata, and a ``champion`` alias.

Layout under ``<registry>/<model>/``::

    versions/<N>/model.skops      the model (skops: loading never runs arbitrary code)
    versions/<N>/meta.json        version, parent, training windows, fingerprint, rows, holdout scores, p-value,
                                  reason, time, sha256 of model.skops
    versions/<N>/reference.parquet  the out-of-sample holdout scored by this model (the drift reference it brings)
    versions/<N>/stress.json      the latest stress tests of this version (its retrain's: champion beside it)
    versions/<N>/stress_rows.parquet  the perturbed holdout rows that hurt the models most: synthetic, kept apart
                                  from the failure log, so they never reach training
    aliases.json                  {"champion": N, "history": [...]}: moved atomically (write, then rename)
    attempts/<time>.json          every retraining attempt, promoted or not, with its figures

A version folder is written under a temporary name and renamed into place, so a crash never leaves half a
version; the alias file is replaced in one rename, so a crash mid-promotion leaves the old champion in place.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import pandas as pd

from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows.registry.trust import RegistryError, check_tree_structures, trusted_types


@dataclass(frozen=True)
class Version:
    number: int
    meta: dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_loaded: dict[str, Any] = {}
"""The last model rebuilt, by the sha256 of its file: its bytes are read and hashed on every load, so a
changed file is never served from here."""


class Registry:
    """One model's registry. Holds a URL, never an open handle; every call opens what it needs."""

    def __init__(self, cfg: ModelConfig):
        root = cfg.retrain.registry
        if root is None:
            base = str((get_settings().home / "registry").resolve())
        elif "://" in root:
            base = root
        else:
            base = cfg.resolve(root)
        self.fs, path = fsspec.core.url_to_fs(base)
        self.root = f"{path.rstrip('/')}/{cfg.name}"
        self.model = cfg.name

    # --- reading -----------------------------------------------------------------------------------------

    def _path(self, *parts: object) -> str:
        return "/".join([self.root, *map(str, parts)])

    def _read_json(self, path: str) -> Any:
        with self.fs.open(path, "r") as fh:
            return json.load(fh)

    def versions(self) -> list[Version]:
        folder = self._path("versions")
        if not self.fs.exists(folder):
            return []
        out = []
        for entry in self.fs.ls(folder, detail=False):
            name = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if name.isdigit() and self.fs.exists(self._path("versions", name, "meta.json")):
                out.append(Version(int(name), self._read_json(self._path("versions", name, "meta.json"))))
        return sorted(out, key=lambda v: v.number)

    def version(self, number: int) -> Version:
        path = self._path("versions", number, "meta.json")
        if not self.fs.exists(path):
            known = [v.number for v in self.versions()]
            raise RegistryError(f"model {self.model} has no version {number} in the registry (known: {known})")
        return Version(number, self._read_json(path))

    def aliases(self) -> dict[str, Any]:
        path = self._path("aliases.json")
        return self._read_json(path) if self.fs.exists(path) else {"champion": None, "history": []}

    def champion(self) -> Version | None:
        number = self.aliases().get("champion")
        return None if number is None else self.version(int(number))

    def load(self, number: int) -> Any:
        """The fitted model of a version, after checking its hash and that skops rebuilds only trusted types."""
        import skops.io as sio

        meta = self.version(number).meta
        path = self._path("versions", number, "model.skops")
        with self.fs.open(path, "rb") as fh:
            blob = fh.read()
        digest = hashlib.sha256(blob).hexdigest()
        if digest != meta.get("sha256"):
            raise RegistryError(
                f"{path}: sha256 {digest[:12]}… does not match the registered {str(meta.get('sha256'))[:12]}…; "
                "the file was changed or corrupted, so it is not loaded"
            )
        if digest in _loaded:  # the same bytes, checked before: nightly scoring in a backfill loads it once
            return _loaded[digest]
        untrusted = trusted_types(blob, path)
        model = sio.loads(blob, trusted=untrusted)
        check_tree_structures(model, path)
        _loaded.clear()  # one champion at a time is in use
        _loaded[digest] = model
        return model

    def reference(self, number: int) -> pd.DataFrame | None:
        path = self._path("versions", number, "reference.parquet")
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as fh:
            blob = fh.read()
        recorded = self.version(number).meta.get("reference_sha256")
        if hashlib.sha256(blob).hexdigest() != recorded:
            raise RegistryError(f"{path}: sha256 does not match the registered one; the reference is not used")
        return pd.read_parquet(io.BytesIO(blob))

    def stress(self, number: int) -> dict[str, Any] | None:
        """The latest stress tests recorded beside a version, if any."""
        path = self._path("versions", number, "stress.json")
        return self._read_json(path) if self.fs.exists(path) else None

    def stress_rows(self, number: int) -> pd.DataFrame | None:
        path = self._path("versions", number, "stress_rows.parquet")
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as fh:
            return pd.read_parquet(io.BytesIO(fh.read()))

    def attempts(self) -> list[dict[str, Any]]:
        folder = self._path("attempts")
        if not self.fs.exists(folder):
            return []
        files = sorted(str(p) for p in self.fs.ls(folder, detail=False) if str(p).endswith(".json"))
        # ``record`` names the file, so that a pending attempt's decision can be written into it later
        return [{**self._read_json(p), "record": p.rsplit("/", 1)[-1]} for p in files]

    def pending(self, attempts: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """The attempt whose challenger waits for its shadow windows (at most one: a newer retrain supersedes);
        ``attempts``: those already read, to spare a second read of every record."""
        waiting = [a for a in (self.attempts() if attempts is None else attempts) if a.get("outcome") == "pending"]
        return waiting[-1] if waiting else None

    def last_attempt_time(self, attempts: list[dict[str, Any]] | None = None) -> datetime | None:
        """When the last retraining that produced a challenger (promoted, kept, pending or expired) or crashed
        happened, in data time (its ``as_of``: a replay of history has its own clock): a trainer that crashes is
        not run again every night. A refused attempt (too few rows yet, another retraining running) starts no
        cooldown; one refused by a stress gate was judged, a verdict like one kept."""
        verdicts = ("promoted", "kept", "failed", "pending", "expired")  # pending: it waits, no second one meanwhile
        done = [
            a
            for a in (self.attempts() if attempts is None else attempts)
            if (a.get("outcome") in verdicts or a.get("refused_by")) and a.get("as_of")
        ]
        if not done:
            return None
        return max(pd.Timestamp(a["as_of"]).tz_convert("UTC").tz_localize(None).to_pydatetime() for a in done)

    # --- writing -----------------------------------------------------------------------------------------

    def register(self, model: Any, meta: dict[str, Any], reference: pd.DataFrame | None = None) -> Version:
        """Add a new version (never the champion by itself). Written under a temporary name, then renamed."""
        import skops.io as sio

        blob = sio.dumps(model)
        where = f"the model to register for {self.model} ({type(model).__name__})"
        trusted_types(blob, where)  # loadable later
        check_tree_structures(model, where)
        ref_blob = None
        if reference is not None:
            buf = io.BytesIO()
            reference.to_parquet(buf, index=False)
            ref_blob = buf.getvalue()
        existing = [v.number for v in self.versions()]
        number = (max(existing) if existing else 0) + 1
        token = uuid.uuid4().hex
        full = {
            "model": self.model,
            "version": number,
            "registration": token,
            "created_at": _now(),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "estimator": type(model).__name__,
            "reference_sha256": None if ref_blob is None else hashlib.sha256(ref_blob).hexdigest(),
            **meta,
        }
        tmp = self._path("versions", f".tmp-{token}")
        self.fs.makedirs(tmp, exist_ok=True)
        self.fs.pipe(f"{tmp}/model.skops", blob)
        if ref_blob is not None:
            self.fs.pipe(f"{tmp}/reference.parquet", ref_blob)
        self.fs.pipe(f"{tmp}/meta.json", json.dumps(full, indent=2, default=str).encode())
        final = self._path("versions", number)
        if self.fs.exists(final):
            self.fs.rm(tmp, recursive=True)
            raise RegistryError(f"version {number} of {self.model} appeared meanwhile; register again")
        self.fs.mv(tmp, final, recursive=True)
        if self._read_json(f"{final}/meta.json").get("registration") != token:
            # Another registration took the number between the check and the move (which then nested this
            # one inside it): take ours out and refuse, rather than return a version that is someone else's.
            nested = f"{final}/.tmp-{token}"
            if self.fs.exists(nested):
                self.fs.rm(nested, recursive=True)
            raise RegistryError(f"version {number} of {self.model} appeared meanwhile; register again")
        return Version(number, full)

    def set_champion(self, number: int, reason: str, rollback: bool = False) -> dict[str, Any]:
        """Move the ``champion`` alias (atomically: the new alias file replaces the old in one rename)."""
        self.version(number)  # refuses an unknown version
        aliases = self.aliases()
        entry = {"champion": number, "previous": aliases.get("champion"), "at": _now(), "reason": reason}
        if rollback:
            entry["rollback"] = True
        new = {"champion": number, "history": [*aliases.get("history", []), entry]}
        tmp = self._path(f".aliases-{uuid.uuid4().hex}.json")
        self.fs.makedirs(self.root, exist_ok=True)
        self.fs.pipe(tmp, json.dumps(new, indent=2).encode())
        self.fs.mv(tmp, self._path("aliases.json"))
        return new

    def rollback(self, reason: str) -> int:
        """Give the alias back to the champion before the current one (a second rollback goes one further)."""
        stack: list[int] = []
        for entry in self.aliases().get("history", []):
            if entry.get("rollback"):
                stack.pop()
            else:
                stack.append(int(entry["champion"]))
        if len(stack) < 2:
            raise RegistryError(f"model {self.model}: no earlier champion to roll back to")
        self.set_champion(stack[-2], reason, rollback=True)
        return stack[-2]

    def record_attempt(self, attempt: dict[str, Any]) -> str:
        """Keep an attempt's record; returns its name (``record``)."""
        name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}.json"
        self.fs.makedirs(self._path("attempts"), exist_ok=True)
        self.fs.pipe(self._path("attempts", name), json.dumps(attempt, indent=2, default=str).encode())
        return name

    def update_attempt(self, record: str, attempt: dict[str, Any]) -> None:
        """Rewrite an attempt's record (a pending challenger's decision), in one rename."""
        if "/" in record or not record.endswith(".json") or not self.fs.exists(self._path("attempts", record)):
            raise RegistryError(f"model {self.model} has no attempt record {record!r}")
        body = {k: v for k, v in attempt.items() if k != "record"}
        tmp = self._path("attempts", f".{uuid.uuid4().hex}.tmp")
        self.fs.pipe(tmp, json.dumps(body, indent=2, default=str).encode())
        self.fs.mv(tmp, self._path("attempts", record))

    def write_stress(self, number: int, record: dict[str, Any], rows: pd.DataFrame | None = None) -> None:
        """Keep a version's stress tests beside it (the latest replaces the one before). The perturbed rows are
        synthetic: they stay here, never in the failure log that retraining reads."""
        self.version(number)  # refuses an unknown version
        if rows is not None and len(rows):
            buf = io.BytesIO()
            rows.to_parquet(buf, index=False)
            self.fs.pipe(self._path("versions", number, "stress_rows.parquet"), buf.getvalue())
        elif self.fs.exists(self._path("versions", number, "stress_rows.parquet")):
            self.fs.rm(self._path("versions", number, "stress_rows.parquet"))
        body = json.dumps({**record, "at": _now()}, indent=2, default=str).encode()
        self.fs.pipe(self._path("versions", number, "stress.json"), body)

    def export(self, number: int, target: str) -> str:
        """Copy a version's model file to ``target`` (a path or fsspec URL), e.g. where a server picks it up."""
        with self.fs.open(self._path("versions", number, "model.skops"), "rb") as fh:
            blob = fh.read()
        with fsspec.open(target, "wb") as out:
            out.write(blob)
        return target
