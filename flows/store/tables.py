"""The store's tables (SQLAlchemy Core). Every change here needs a migration in ``migrations/versions/``:
``tests/flows/store/test_migrations.py`` compares a store upgraded to the head with this metadata."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

references = sa.Table(
    "references",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),
    sa.UniqueConstraint("model", "version"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False, index=True),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("window_end", sa.DateTime, nullable=False),
    sa.Column("run_version", sa.Integer, nullable=False),
    sa.Column("superseded", sa.Boolean, nullable=False, default=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("causes", sa.Text, nullable=False, default="[]"),
    sa.Column("rows", sa.Integer),
    sa.Column("labelled_rows", sa.Integer),
    sa.Column("label_coverage", sa.Float),
    sa.Column("as_of", sa.DateTime),
    # Label catch-up looked again as of this time and found no new label: the version holds as of then. Kept
    # apart from as_of, which says what the version knew when it was written (status_since reads it).
    sa.Column("labels_checked_at", sa.DateTime),
    sa.Column("reference_id", sa.Integer, sa.ForeignKey("references.id")),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("error", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("findings", sa.Text, nullable=False, default="[]"),
    sa.Column("report_uri", sa.Text),
    sa.UniqueConstraint("model", "window_start", "run_version"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("column", sa.Text),
    sa.Column("segment", sa.Text, nullable=False, default="all"),
    sa.Column("value", sa.Float),
    sa.Column("lower", sa.Float),
    sa.Column("upper", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("direction", sa.Text),
    sa.Column("passed", sa.Boolean),
    sa.Column("details", sa.Text, nullable=False, default="{}"),
)

failure_samples = sa.Table(
    "failure_samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("model", sa.Text, nullable=False, index=True),
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("row_id", sa.Text, nullable=False),
    sa.Column("model_version", sa.Text),
    sa.Column("prediction", sa.Text),
    sa.Column("label", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("used_in_training", sa.Boolean, nullable=False, default=False),
    # A window's samples are counted, and a run's candidates checked against those logged, on every run: by
    # model alone these reads grow with the history.
    sa.Index("ix_failure_samples_model_window", "model", "window_start"),
    sa.Index("ix_failure_samples_model_row", "model", "row_id"),
)

# alerts: flows/store/alerts.py reads and writes these

conditions = sa.Table(
    "conditions",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),  # model/check/subject
    sa.Column("model", sa.Text, nullable=False, index=True),
    sa.Column("check_name", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # open | resolved
    sa.Column("severity", sa.Text, nullable=False),  # warning | critical
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("last_sent", sa.DateTime),
    sa.Column("sent_value", sa.Float),
    sa.Column("last_value", sa.Float),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("acknowledged", sa.Boolean, nullable=False, default=False),
    sa.Column("acknowledged_at", sa.DateTime),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False, index=True),
    sa.Column("channel", sa.Text, nullable=False),  # the channel's name in the config, never its URL
    sa.Column("payload", sa.Text, nullable=False),  # the message as JSON (no secrets)
    sa.Column("status", sa.Text, nullable=False, index=True),  # pending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_attempt", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
)

mutes = sa.Table(
    "mutes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False, index=True),
    sa.Column("check_name", sa.Text, nullable=False),  # a check name or *
    sa.Column("subject", sa.Text, nullable=False, default="*"),  # a subject or a glob
    sa.Column("until", sa.DateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


# One row per (model, window) a run is monitoring right now: two runs of one window never interleave
# (flows/locks.py). Added by migration 0002.
run_locks = sa.Table(
    "run_locks",
    metadata,
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("window_start", sa.DateTime, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime),  # the holder's last beat (none: a lock of before heartbeats)
)


# A user's acceptance of a standing share issue (``driftwarden accept``): the issue is a note, not a breach,
# until the acceptance expires or ends. Added by migration 0005.
acceptances = sa.Table(
    "acceptances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False, index=True),
    sa.Column("rule", sa.Text, nullable=False),  # <column>:<expectation>
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("accepted_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)


# A model's incidents (breach episodes of one cause) and their post-mortems, derived from the runs and
# rewritten whole by ``flows/reports/postmortems.py``: a cache of what the runs say, keyed by the incident's
# stable id. Added by migration 0006.
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),  # <model>-<first window's date>-<cause>: also an artifact key
    sa.Column("model", sa.Text, nullable=False, index=True),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # open | closed
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("closed_at", sa.DateTime),
    sa.Column("first_window", sa.DateTime, nullable=False),
    sa.Column("last_window", sa.DateTime, nullable=False),
    sa.Column("windows", sa.Integer, nullable=False),
    sa.Column("predictions", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("markdown", sa.Text, nullable=False),
    sa.Column("html_path", sa.Text),
    sa.Column("document", sa.Text, nullable=False),  # the post-mortem as JSON
    sa.Column("fingerprint", sa.Text, nullable=False),  # of the document: a changed one is published again
)
