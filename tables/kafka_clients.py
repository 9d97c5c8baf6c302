"""librdkafka clients outside Faust: for commands (keys, dlq replay, audit) and the cold
paths of workers that must see a whole topic now (the keys topic before a rotation).

``read_to_end`` reads a topic from its beginning to the end it has when asked, without a
consumer group, so nothing is committed and any number of readers may run at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from app.settings import bootstrap_servers, security_config


class TopicError(Exception):
    """A topic could not be read to its end, or written (topic and reason)."""


def client_config(broker: str, credentials: str = "") -> dict[str, Any]:
    """librdkafka settings for ``broker`` (a kafka:// URL) with the workers' credentials.
    librdkafka's own log lines are off: the callers say what failed, once."""
    return {
        "bootstrap.servers": bootstrap_servers(broker),
        **security_config(credentials),
        "log_level": 0,
    }


def read_to_end(
    client: dict[str, Any],
    topic: str,
    apply: Callable[[bytes | None, bytes | None], Any],
    timeout: float,
) -> int:
    """Every record of ``topic`` (key, value), in order per partition, up to each
    partition's end, without a consumer group; how many.  A missing topic has none."""
    consumer = Consumer(
        {
            **client,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",  # never committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 50,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return 0
        parts = sorted(meta.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        done: set[int] = set()
        count = 0
        deadline = time.monotonic() + timeout
        while len(done) < len(parts):
            if time.monotonic() > deadline:
                raise TopicError(f"{topic}: not read to its end in {timeout:.0f} s")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    done.add(msg.partition())
                continue
            apply(msg.key(), msg.value())
            count += 1
        return count
    finally:
        consumer.close()
