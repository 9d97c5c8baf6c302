# A worker image. Build: docker build -t alertstream .
# Run:   docker run -e ALERTSTREAM_BROKER=kafka://kafka:9092 -e ALERT_WEBHOOK_URL=... \
#          -p 6066:6066 -v alertstream-data:/data alertstream
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ALERTSTREAM_DATA_DIR=/data \
    ALERTSTREAM_WEB_BIND=0.0.0.0 \
    ALERTSTREAM_WEB_PORT=6066 \
    ALERTSTREAM_PIPELINES=/etc/alertstream/pipelines.yaml \
    ALERTSTREAM_KEYRING=/data/keyring.json \
    ALERTSTREAM_AUDIT_KEY=/data/audit-signing.key

WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY agents ./agents
COPY tables ./tables
COPY models ./models
COPY channels ./channels
COPY benchmarks ./benchmarks
RUN pip install --no-cache-dir . && useradd --system --uid 10001 alertstream \
    && mkdir -p /data /etc/alertstream && chown alertstream /data
COPY pipelines.yaml /etc/alertstream/pipelines.yaml

USER alertstream
VOLUME /data
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:6066/healthz', timeout=2)" || exit 1
ENTRYPOINT ["alertstream"]
CMD ["worker"]
