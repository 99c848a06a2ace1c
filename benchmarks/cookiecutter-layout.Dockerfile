# Benchmark baseline, never shipped: our rendered service packaged the way
# cookiecutter-django's production Dockerfile packages its own, on the same
# stand-in base and the same uv-managed CPython, so that only the layout
# differs. Its two costs, reproduced on purpose:
#   - the venv lives in /app/.venv and reaches the runtime stage in one COPY
#     with the code, so a one-line code change rewrites the venv's layer;
#   - psycopg is compiled from source, which needs build-essential and libpq-dev.
ARG DEBIAN_IMAGE=debian:trixie-slim
# The uv image of copier.yml's uv_version, passed by the benchmark.
ARG UV_IMAGE

FROM ${UV_IMAGE} AS uv

FROM ${DEBIAN_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed
ARG UV_PYTHON_DOWNLOADS_JSON_URL
WORKDIR /app
RUN apt-get update && apt-get install --no-install-recommends -y build-essential libpq-dev
RUN --mount=type=secret,id=ca-bundle,required=false \
    --mount=type=bind,source=.python-version,target=.python-version \
    if [ -s /run/secrets/ca-bundle ]; then export SSL_CERT_FILE=/run/secrets/ca-bundle; fi \
 && uv python install --no-bin
RUN --mount=type=secret,id=ca-bundle,required=false \
    --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=.python-version,target=.python-version \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    if [ -s /run/secrets/ca-bundle ]; then export SSL_CERT_FILE=/run/secrets/ca-bundle; fi \
 && uv sync --locked --no-install-project --no-dev --no-binary-package psycopg2-binary
COPY . /app
RUN --mount=type=secret,id=ca-bundle,required=false \
    --mount=type=cache,target=/root/.cache/uv \
    if [ -s /run/secrets/ca-bundle ]; then export SSL_CERT_FILE=/run/secrets/ca-bundle; fi \
 && uv sync --locked --no-dev --no-binary-package psycopg2-binary

FROM ${DEBIAN_IMAGE}
RUN apt-get update && apt-get install --no-install-recommends -y libpq-dev \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system django && useradd --system --gid django --create-home django
COPY --from=build /opt/python /opt/python
COPY --from=build --chown=django:django /app /app
ENV PATH=/app/.venv/bin:$PATH DJANGO_SETTINGS_MODULE=config.service_settings
WORKDIR /app
USER django
CMD ["gunicorn"]
