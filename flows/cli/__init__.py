"""The ``driftwarden`` console script: the root app (``app.py``) and one module per command group, each
registering its commands onto the root when imported. Importing this package imports them all; their order
below is the order ``driftwarden --help`` lists the commands in. A new group is a module beside these that
imports ``driftwarden.flows.cli.app`` and one line here."""

# isort: off
from driftwarden.flows.cli import app as app
from driftwarden.flows.cli import monitor as monitor
from driftwarden.flows.cli import deployments as deployments
from driftwarden.flows.cli import alerts as alerts
from driftwarden.flows.cli import status as status
from driftwarden.flows.cli import incidents as incidents
from driftwarden.flows.cli import report as report
from driftwarden.flows.cli import errors as errors
from driftwarden.flows.cli import review as review
from driftwarden.flows.cli import serve as serve
from driftwarden.flows.cli import store as store
from driftwarden.flows.cli import demo as demo
from driftwarden.flows.cli import models as models
from driftwarden.flows.cli import stress as stress
# isort: on
