"""What a worker process loads: the app, every agent, and the HTTP API.

Faust's own command line runs it: ``faust -A app.worker worker`` (``alertstream worker``
sets the environment first and does exactly that).
"""

import agents.alerts
import agents.evaluate  # noqa: F401
import app.api
from app.faust_app import ALL_TOPICS, app


@app.task
async def declare_topics() -> None:
    """Declare every topic up front, all with one partition count (see FIELD-NOTES)."""
    for topic in ALL_TOPICS:
        await topic.maybe_declare()


__all__ = ["app"]
