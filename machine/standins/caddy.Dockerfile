# Stand-in for the official caddy:2.N image, from Debian's caddy package
# (2.6: older than the tag it stands in for, and enough for our Caddyfile).
# Honours the contract the template relies on: the Caddyfile at
# /etc/caddy/Caddyfile, certificates and state in /data, autosaved config in
# /config, `caddy run` as the command, ports 80, 443 (TCP and UDP).
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      caddy ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /config/caddy /data/caddy /etc/caddy /srv
ENV XDG_CONFIG_HOME=/config \
    XDG_DATA_HOME=/data
VOLUME /config /data
EXPOSE 80 443 443/udp 2019
WORKDIR /srv
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
