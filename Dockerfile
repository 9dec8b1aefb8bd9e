# finops-bot: the Bolt app and its scheduler in one process.
#   docker build -t finops-bot .
#   docker run -e SLACK_BOT_TOKEN=... -e SLACK_SIGNING_SECRET=... -p 3000:3000 finops-bot
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

CMD ["finops-bot", "run", "--http", "3000"]
