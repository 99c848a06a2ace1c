# Stand-in for the official postgres:N image, from Debian's own packages.
# Honours the contract the template relies on: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, data in /var/lib/postgresql/data,
# pg_isready on PATH, SIGINT as the fast-shutdown stop signal.
ARG BASE
FROM ${BASE}
ARG PG_MAJOR
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql-${PG_MAJOR} >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/${PG_MAJOR}
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
