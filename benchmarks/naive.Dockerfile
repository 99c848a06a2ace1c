# Benchmark baseline, never shipped: our rendered service packaged the way
# many teams start, in one stage, on the same base and the same uv-managed
# CPython as ours so that only the pattern differs:
#   - compilers and headers (build-essential, libpq-dev) in the final image;
#   - `uv venv /opt/venv && uv pip install` after copying only pyproject.toml,
#     then `COPY . .` with the code;
#   - everything runs as root.
# Fixed only as far as it must be to build: the service is not a package
# (no [build-system]), so `uv pip install -e .` becomes `-r pyproject.toml`.
ARG DEBIAN_IMAGE=debian:trixie-slim
# The uv image of copier.yml's uv_version, passed by the benchmark.
ARG UV_IMAGE

FROM ${UV_IMAGE} AS uv

FROM ${DEBIAN_IMAGE}
COPY --from=uv /uv /usr/local/bin/
ENV UV_PYTHON_INSTALL_DIR=/opt/python UV_PYTHON_PREFERENCE=only-managed \
    DJANGO_SETTINGS_MODULE=config.service_settings PATH=/opt/venv/bin:$PATH
ARG UV_PYTHON_DOWNLOADS_JSON_URL
WORKDIR /app
RUN apt-get update && apt-get install -y build-essential libpq-dev ca-certificates
COPY .python-version pyproject.toml ./
RUN --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then export SSL_CERT_FILE=/run/secrets/ca-bundle; fi \
 && uv python install \
 && uv venv /opt/venv \
 && uv pip install --python /opt/venv/bin/python -r pyproject.toml
COPY . .
RUN env DJANGO_SECRET_KEY=build-only-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ \
      DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
      python manage.py collectstatic --noinput --verbosity 0
EXPOSE 8000
CMD ["gunicorn"]
