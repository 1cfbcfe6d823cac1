# The service (and the `lineage` command) for docker-compose.yml. No Java: in a container the
# broker is its own service, so KAFKA_BOOTSTRAP_SERVERS is always set.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY producers ./producers
COPY consumers ./consumers
COPY lineage ./lineage
RUN pip install --no-cache-dir . && useradd --system --home /app lineage \
    && mkdir -p /app/.lineage && chown lineage /app/.lineage
USER lineage
ENV LINEAGE_HOME=/app/.lineage
EXPOSE 8787
CMD ["lineage", "serve"]
