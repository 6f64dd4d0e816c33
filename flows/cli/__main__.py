"""``python -m driftwarden.flows.cli``: the console script, e.g. for the processes of a parallel backfill."""

from driftwarden.flows.cli.app import main

main()
