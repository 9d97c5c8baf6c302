"""What a worker process loads: the app, every agent, and the HTTP API.

Faust's own command line runs it: ``faust -A app.worker worker`` (``alertstream worker``
sets the environment first and does exactly that).
"""

import agents.alerts
import agents.commands
import agents.evaluate
import agents.notify  # noqa: F401
import app.api
import app.api_v2
from app.faust_app import app

__all__ = ["app"]
