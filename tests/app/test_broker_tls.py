"""Kafka over TLS for real, with the embedded broker behind a TLS-terminating proxy
(Tansu 0.6.0 cannot listen with TLS itself, docs/security.md): the credential setting
``ssl`` with ALERTSTREAM_BROKER_CA gives both client libraries a verified TLS
connection: confluent-kafka (topic creation, producers) creates a topic and writes,
aiokafka with the Faust app's credentials reads it back; without the CA the broker's
certificate is refused."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiokafka
import pytest
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import Producer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from app.broker import broker_command, declare_topics, free_port, stop_process, wait_for_port
from app.settings import faust_credentials, security_config
from tests.tls_certs import CA


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def tls_broker(tmp_path: Path) -> AsyncIterator[tuple[str, CA]]:
    """``kafka://127.0.0.1:P`` speaking TLS (a certificate the CA issued for 127.0.0.1),
    and the CA. The broker advertises the proxy's port, so every connection a client
    makes goes through TLS."""
    ca = CA(tmp_path)
    pair = ca.issue("broker")
    inner, outer = free_port(), free_port()
    command = broker_command(inner)
    command[command.index("--advertised-listener-url") + 1] = f"tcp://127.0.0.1:{outer}"
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", inner)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    try:
        await asyncio.to_thread(wait_for_port, inner)
        server = await asyncio.start_server(relay, "127.0.0.1", outer, ssl=context)
        yield f"kafka://127.0.0.1:{outer}", ca
        server.close()
    finally:
        stop_process(proc, 5)


async def test_both_kafka_clients_connect_over_verified_tls(tls_broker, caplog):
    broker, ca = tls_broker
    topic = f"tls-{uuid.uuid4().hex[:6]}"
    address = broker.removeprefix("kafka://")
    conf = security_config("ssl", ca=str(ca.path))
    assert conf == {"security.protocol": "SSL", "ssl.ca.location": str(ca.path)}

    def create_and_write() -> int:
        declare_topics(broker, [topic], 1, "ssl", timeout=15)  # reads ALERTSTREAM_BROKER_CA
        producer = Producer({"bootstrap.servers": address, **conf})
        producer.produce(topic, b"over tls", b"acme")
        return producer.flush(15)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("ALERTSTREAM_BROKER_CA", str(ca.path))
        assert await asyncio.to_thread(create_and_write) == 0

    auth = credentials_to_aiokafka_auth(faust_credentials("ssl", str(ca.path)))
    consumer = aiokafka.AIOKafkaConsumer(
        topic, bootstrap_servers=address, auto_offset_reset="earliest", **auth
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"acme", b"over tls")

    # the system's CAs do not know this broker: the handshake is refused
    untrusted = credentials_to_aiokafka_auth(faust_credentials("ssl"))
    stranger = aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=address, **untrusted)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(stranger.start(), 20)
    await stranger.stop()
    assert any("CERTIFICATE_VERIFY_FAILED" in r.getMessage() for r in caplog.records)
