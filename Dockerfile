# One image for every Rollcall process: the compose services differ only by `command:`.
# It carries no healthcheck of its own because most of its processes (relays, workers, beat)
# serve no HTTP; docker-compose.yml probes /healthz on the two web services.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/var/lib/rollcall

RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home rollcall \
    && install -d -o rollcall -g rollcall /var/lib/rollcall

WORKDIR /src

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them.
COPY pyproject.toml README* ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The packages that [tool.setuptools.packages.find] includes; no dev extras.
COPY shared/ shared/
COPY services/ services/
COPY rollcall/ rollcall/
RUN pip install . \
    && cd / && rm -rf /src

# Run from a folder without the source, so every import comes from the installed package.
WORKDIR /app
USER rollcall

EXPOSE 8001 8002
CMD ["rollcall", "--help"]
