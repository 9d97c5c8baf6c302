"""What a worker process loads: the app, the alert runtime, every agent, and the HTTP API.

Faust's own command line runs it: ``faust -A app.worker worker`` (``alertstream worker``
sets the environment first and does exactly that).  The alert runtime is built here,
once, from the validated pipelines file, and handed to what uses it.
"""

import agents.evaluate  # noqa: F401  (its agent registers itself on import)
import tables
from agents import alerts, commands, notify, suppression
from agents.runtime import AlertRuntime, Stores
from app import api, api_v2
from app.faust_app import alerts_topic, app, commands_topic, notification_topics
from app.pipeline import pipeline_config
from app.settings import settings
from app.web import serve
from models.notify.inflight import InFlight

inflight = InFlight()  # notifications the senders have not settled: the runtime waits on them
runtime = AlertRuntime(
    pipeline_config(),
    settings,
    Stores(
        tables.checkpoint,
        tables.alerts,
        tables.groups,
        tables.nflog,
        tables.history,
        tables.silences,
    ),
    inflight,
)
alerts.register(app, alerts_topic, runtime, settings.tick)
commands.register(app, commands_topic, runtime)
notify.register(app, notification_topics, notify.ChannelSenders(app, pipeline_config(), inflight))
suppression.register(app, runtime.suppressor, settings.broker)
serve(app, api.ROUTES, runtime)
serve(app, api_v2.ROUTES, runtime)

__all__ = ["app"]
