"""What a worker process loads: the app, the alert runtime, every agent, and the HTTP API.

Faust's own command line runs it: ``faust -A app.worker worker`` (``alertstream worker``
sets the environment first and does exactly that).  The alert runtime is built here,
once, from the validated pipelines file, and handed to what uses it.
"""

import agents.evaluate  # its agent registers itself on import
import tables
from agents import alerts, commands, config_updates, notify, suppression
from agents.runtime import AlertRuntime, Stores
from app import api, api_config, api_v2
from app.config.tenants import TenantConfigs, load_tenant_files
from app.faust_app import alerts_topic, app, commands_topic, config_topic, notification_topics
from app.pipeline import pipeline_config
from app.settings import settings
from app.web import serve
from models.notify.inflight import InFlight

inflight = InFlight()  # notifications the senders have not settled: the runtime waits on them
# per-tenant configs: the tenant files now, the config topic's versions as they are read
configs = TenantConfigs(
    pipeline_config(), load_tenant_files(pipeline_config(), settings.pipelines.parent)
)
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
    configs,
)
agents.evaluate.follow(configs)
config_updates.register(app, configs, config_topic, str(settings.pipelines), settings.broker)
alerts.register(app, alerts_topic, runtime, settings.tick)
commands.register(app, commands_topic, runtime)
notify.register(
    app,
    notification_topics,
    notify.ChannelSenders(app, pipeline_config(), inflight, configs.receiver),
)
suppression.register(app, runtime.suppressor, settings.broker)
serve(app, api.ROUTES, runtime)
serve(app, api_v2.ROUTES, runtime)
serve(app, api_config.ROUTES, runtime)

__all__ = ["app"]
