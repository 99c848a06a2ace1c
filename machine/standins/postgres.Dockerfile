# Stand-in for the official postgres:N image, from Debian's own packages.
# Honours the contract the template relies on: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, pg_isready on PATH, SIGINT as the
# fast-shutdown stop signal, postgres as uid 999, UTF8 databases, and N's
# data layout: up to 17 PGDATA is /var/lib/postgresql/data and the volume;
# from 18 PGDATA is /var/lib/postgresql/N/docker under a volume at
# /var/lib/postgresql.
# Takes: BASE, PG_MAJOR, PGDATA and PG_VOLUME (machine/prepare's pg_layout
# derives both from PG_MAJOR), and APT_CHECK_VALID_UNTIL=false when prepare
# found the mirror's signed index of BASE's suite past its Valid-Until.
ARG BASE
FROM ${BASE}
ARG PG_MAJOR
ARG PGDATA
ARG PG_VOLUME
ARG APT_CHECK_VALID_UNTIL=true
# No default layout: a wrong one would hide old data instead of failing.
# uid/gid 999 as in the official images, so a volume's files stay readable across majors.
RUN : "${PG_MAJOR:?}" "${PGDATA:?}" "${PG_VOLUME:?}" \
 && groupadd -r -g 999 postgres \
 && useradd -r -u 999 -g postgres -d /var/lib/postgresql -s /bin/bash postgres \
 && apt-get -o Acquire::Check-Valid-Until="$APT_CHECK_VALID_UNTIL" update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      postgresql-${PG_MAJOR} >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/${PG_MAJOR}
# LANG: initdb makes UTF8 databases, as the official image's en_US.utf8 does.
ENV PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    LANG=C.UTF-8 \
    PG_MAJOR=${PG_MAJOR} \
    PGDATA=${PGDATA}
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME ${PG_VOLUME}
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
