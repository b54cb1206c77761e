# hostwarden in a container: the bot (default command), or any other `hostwarden` command.
#
#   docker build -t hostwarden .                    # or: docker compose up -d (compose.yaml)
#   podman build --format docker -t hostwarden .    # podman: the docker format keeps HEALTHCHECK
#
# Two stages on the same base. The build stage installs uv, exports uv.lock to a requirements
# file with hashes, installs exactly those versions (binary wheels only) into a virtual
# environment, /opt/hostwarden, and builds hostwarden's wheel. The runtime stage copies that
# environment and installs the wheel into it: no compiler, no uv, no pip, no build files.
#
# Build arguments:
#   BASE        the base image; it must provide python3 (3.11) with the venv module. Default:
#               the official slim Python image. The tests build a Debian one with debootstrap
#               and pass it here (see tests/image/).
#   INDEX_URL   a Python package index to use instead of the default one (a mirror or proxy).
#   UV_VERSION  the uv release used in the build stage.
# Build secret (optional): `ca`, a CA bundle to trust while downloading packages, for a network
# that inspects TLS: `docker build --secret id=ca,src=/etc/ssl/certs/ca-certificates.crt .`.
# It is mounted for the downloading steps only and stays out of every layer.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ARG INDEX_URL=""
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --quiet ${INDEX_URL:+--index-url "$INDEX_URL"} "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first (their layer is reused until uv.lock changes), exactly as locked.
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi \
 && if [ -n "$INDEX_URL" ]; then export UV_DEFAULT_INDEX="$INDEX_URL"; fi \
 && /opt/uv/bin/uv export --frozen --no-dev --no-emit-project --format requirements-txt \
      --output-file /tmp/requirements.txt --quiet \
 && /opt/uv/bin/uv venv --quiet --python "$(command -v python3)" /opt/hostwarden \
 && /opt/uv/bin/uv pip install --quiet --python /opt/hostwarden/bin/python \
      --require-hashes --no-deps --only-binary :all: --requirement /tmp/requirements.txt
# Then hostwarden's wheel (templates and static files are package data in it).
COPY README.md ./
COPY src ./src
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi \
 && if [ -n "$INDEX_URL" ]; then export UV_DEFAULT_INDEX="$INDEX_URL"; fi \
 && /opt/uv/bin/uv build --quiet --wheel --out-dir /dist

FROM ${BASE}
# A fixed, unprivileged user (numeric, so that runAsNonRoot-style checks can verify it).
# /data holds the SQLite database and, if you put it there, hostwarden.yaml.
RUN groupadd --gid 10001 hostwarden \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --no-log-init \
      --shell /usr/sbin/nologin hostwarden \
 && mkdir -p /data \
 && chown 10001:10001 /data \
 && chmod 700 /data
# The locked dependencies (one layer, reused until uv.lock or the base changes), then the wheel,
# installed by the build stage's uv through a read-only mount: uv stays out of the image.
COPY --from=build /opt/hostwarden /opt/hostwarden
COPY --from=build /dist/ /tmp/dist/
RUN --mount=type=bind,from=build,source=/opt/uv,target=/opt/uv \
    UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 /opt/uv/bin/uv pip install --quiet --offline \
      --python /opt/hostwarden/bin/python --no-deps /tmp/dist/hostwarden-*.whl \
 && UV_NO_CACHE=1 /opt/uv/bin/uv pip check --quiet --python /opt/hostwarden/bin/python \
 && rm -r /tmp/dist
# Settings: ./hostwarden.yaml (that is /data/hostwarden.yaml), or a file mounted anywhere and
# named by HOSTWARDEN_CONFIG, and HOSTWARDEN_<SECTION>__<KEY> variables (they win over the file).
# The state directory is fixed to the volume here; use storage.url for PostgreSQL.
ENV PATH=/opt/hostwarden/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOSTWARDEN_STORAGE__DATA_DIR=/data
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# Healthy = the settings load and the database opens and answers, the two things the bot needs
# besides Telegram. `GET /healthz` will replace this once the bot serves it.
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 \
    CMD ["hostwarden", "blocks", "list"]
CMD ["hostwarden", "bot"]
