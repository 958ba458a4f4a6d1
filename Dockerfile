# syntax=docker/dockerfile:1
# One image for every engage service; the command picks the service (see deploy/helm/engage):
#   engage ingest serve | engage enrich worker | engage alerts worker | engage migrate
# Dependency versions come only from uv.lock (`uv sync --frozen`); the final stage has no compiler,
# no package manager caches and runs as a numeric non-root user.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# Same uv as the Makefile (UV_VERSION) so the lock is read exactly as in development and CI.
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first (cached layer while only the source changes), from the lock, without the dev and training groups.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --no-install-project
# The project as a built wheel (non-editable): the image runs the installed package, whose schemas,
# migrations, queries and runbook are package data, and keeps no source tree. The wheel leaves the
# development tools (services/sim, services/enrich/training) out.
COPY services ./services
COPY schemas ./schemas
COPY docs/runbook.md ./docs/runbook.md
RUN uv sync --frozen --no-default-groups --no-editable

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="engage" \
      org.opencontainers.image.description="Event-driven social listening pipeline: ingest, enrich, alerts" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 engage \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin engage \
    && mkdir -p /data \
    && chown 10001:10001 /data
WORKDIR /app
COPY --from=build --chown=0:0 /app/.venv /app/.venv
USER 10001:10001
EXPOSE 8080 6066 6067 6069
ENTRYPOINT ["engage"]
CMD ["--help"]
