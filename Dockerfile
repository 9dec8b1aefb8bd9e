# finops-bot: the Bolt app and its scheduler in one process.
#   docker build -t finops-bot .
#   docker run -e SLACK_BOT_TOKEN=... -e SLACK_SIGNING_SECRET=... -p 3000:3000 finops-bot
# It runs as the unprivileged user `finops` (uid 10001), never as root.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin finops

WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY commands ./commands
COPY jobs ./jobs
COPY finops ./finops
COPY storage ./storage
COPY templates ./templates
RUN pip install . && rm -rf /src

USER finops
WORKDIR /home/finops
RUN mkdir -p /home/finops/data
VOLUME ["/home/finops/data"]
# The embedded default keeps its SQLite file on the volume; set a postgresql+asyncpg:// URL for scale.
ENV FINOPS_DATABASE_URL=sqlite+aiosqlite:////home/finops/data/finops.db
EXPOSE 3000

# /healthz answers 503 naming the failing dependency (database, Slack, scheduler); the image has no
# curl, so Python asks. Start-up migrates the database first: give it time.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status != 200)"]

# SIGTERM (docker stop) shuts down gracefully: running jobs get up to 20 s (schedules.shutdown_seconds),
# so give the container more than that before the SIGKILL: docker stop -t 40, or stop_grace_period.
STOPSIGNAL SIGTERM
CMD ["finops-bot", "run", "--http", "3000"]
