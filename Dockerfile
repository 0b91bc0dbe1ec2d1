# The survey-lineage service image: the `lineage` command and its API server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lineage ./lineage
COPY graphql ./graphql
COPY ingest ./ingest
RUN pip install . && useradd --create-home lineage && mkdir -p /data && chown lineage /data
# saved named GraphQL operations for `lineage query` and the API's /queries
ENV LINEAGE_GRAPHQL_PATH=/app/graphql
EXPOSE 8000
USER lineage
WORKDIR /home/lineage

# LINEAGE_REPO points at the graph (a bolt:// URI in the compose stack);
# the password comes from LINEAGE_BOLT_PASSWORD, never from the URI.
ENTRYPOINT ["lineage"]
CMD ["--help"]
