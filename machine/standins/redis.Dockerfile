# Stand-in for the official redis:N image, from Debian's own packages: the
# server listens on all interfaces without protected mode, as the official
# image's default does, and runs as the redis user.
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      redis-server redis-tools >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["setpriv", "--reuid=redis", "--regid=redis", "--init-groups"]
CMD ["redis-server", "--protected-mode", "no", "--bind", "0.0.0.0"]
