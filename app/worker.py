"""What a worker process loads: the app, the alert runtime, every agent, and the HTTP API.

Faust's own command line runs it: ``faust -A app.worker worker`` (``alertstream worker``
sets the environment first and does exactly that).  The alert runtime is built here,
once, from the validated pipelines file, and handed to what uses it.
"""

import agents.evaluate  # its agent registers itself on import
import tables
from agents import (
    access_tokens,
    alerts,
    commands,
    config_updates,
    escalation,
    incidents,
    keys,
    notify,
    suppression,
)
from agents.continuity import OffsetGuard
from agents.events import EventRulesState
from agents.events import register as register_event_rules
from agents.runtime import AlertRuntime, Stores
from app import (
    access,
    allocator,
    api,
    api_analytics,
    api_config,
    api_gdpr,
    api_incidents,
    api_oncall,
    api_v2,
    audit,
    backtest,
    escalation_api,
    table_views,
    tls,
    tracing,
)
from app.config.tenants import TenantConfigs, load_tenant_files
from app.faust_app import (
    alerts_topic,
    app,
    commands_topic,
    config_topic,
    dlq_topic,
    events_topic,
    incidents_topic,
    keys_topic,
    notification_topics,
    tokens_topic,
    topology_topic,
)
from app.metrics import PipelineMetrics, Sources
from app.metrics import register as register_metrics
from app.pipeline import pipeline_config
from app.settings import settings
from app.web import serve
from models.access.tokens import TokenStore
from models.notify.inflight import InFlight
from models.rules.event_eval import EventEvaluator

guard = OffsetGuard(app, tables.offsets, settings.broker)  # records the consumer skipped
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
tokens = TokenStore()  # every API token, read from the tokens topic by every worker
access_control = access.for_worker(  # installed below, after tracing
    app, pipeline_config().access, tokens, settings.insecure
)
# SIGHUP reloads the config, the TLS pair if --tls-cert, access:
config_reloads = config_updates.register(
    app,
    configs,
    config_topic,
    str(settings.pipelines),
    settings.broker,
    [*tls.register(app, settings), lambda: access_control.reload(str(settings.pipelines))],
)
alerts.register(app, alerts_topic, runtime, settings.tick, guard)


@app.timer(allocator.TRIM_EVERY, name="app.allocator.return_free_memory")
async def return_free_memory() -> None:
    allocator.return_free_memory()


escalations = escalation.Escalations(
    runtime,
    tables.escalations,
    external_url=settings.external_url,
    link_key=escalation_api.LINK_KEY,
)
command_handlers = commands.register(app, commands_topic, runtime, guard)
escalation.register(app, escalations, command_handlers, settings.tick)
incidents.register(
    app, runtime, tables.incidents, incidents_topic, topology_topic, command_handlers
)
senders = notify.ChannelSenders(
    app, pipeline_config(), inflight, configs.receiver, configs.set_by_tenant
)
notify.register(app, notification_topics, senders, guard)
suppression.register(app, runtime.suppressor, settings.broker)
event_rules = EventRulesState(
    EventEvaluator(r.to_spec() for r in pipeline_config().event_rules),
    tables.event_state,
    tables.checkpoint,
    events_topic.get_topic_name(),
)
event_rules.follow(configs)  # each tenant's own event rules, swapped at run time
register_event_rules(
    app,
    events_topic,
    alerts_topic,
    event_rules,
    settings.tick,
    guard,
    agents.evaluate.observe_rule_alerts,  # composite rules may read event rules
)
serve(app, api.ROUTES, runtime)
serve(app, api_v2.ROUTES, runtime)
serve(app, api_config.ROUTES, runtime)
serve(app, api_incidents.ROUTES, runtime)
serve(app, api_oncall.ROUTES, runtime)
escalation_api.register(app, escalations)
backtest.register(app, settings, configs)
api_analytics.start(app, configs, command_handlers, settings.broker)
table_views.register(app, tables.checkpoint.stores)  # GET /table/...
tracing.setup(app, settings)  # OTLP export when an endpoint is configured
register_metrics(  # GET /metrics
    app,
    PipelineMetrics(
        Sources(
            app,
            runtime,
            event_rules.ingested,
            agents.evaluate.stats,
            agents.evaluate.evaluator,
            agents.evaluate.anomaly,
            event_rules.evaluator,
            tables.checkpoint.stores,
            tables.offsets,
            dlq_topic.get_topic_name(),
        ),
        senders,
    ),
)
access_tokens.register(app, tokens, tokens_topic, settings.broker)
access.install(app, access_control)
audit_log = audit.install(  # the audit log: chained per tenant, HTTP hook, commands, escalations
    app, settings, tables.checkpoint, tables.audit_chains, guard, command_handlers, escalations
)
config_reloads.append(audit_log.config_reloaded)  # SIGHUP reloads, with their outcome
keys.register(  # every worker follows the keys topic; a scheduled KEK rotation
    app,
    tables.protection,
    keys_topic,
    settings.broker,
    pipeline_config().data_protection.key_rotation,
)
api_gdpr.install(  # personal labels, GDPR erase and export, retention, /api/v1/status
    app, runtime, senders, command_handlers, tables.protection, settings, audit_log
)

__all__ = ["app"]
