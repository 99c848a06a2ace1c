# Headless Chromium from Debian's archive (apt, signed), for the integration
# tier's Content Security Policy check (harness/browser.py). debian:trixie-slim
# is the image every render starts from, so a machine that builds renders
# builds this too: machine/prepare makes a stand-in where no registry answers.
FROM debian:trixie-slim
# Unpinned: trixie's security updates replace any version named here.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium-headless-shell \
 && rm -rf /var/lib/apt/lists/*
# Any unprivileged user: the profile lives in /tmp and is thrown away.
USER 65534:65534
ENV HOME=/tmp
# No sandbox: it needs user namespaces a container does not get. Only the
# tests' own pages are loaded. Small /dev/shm in a container: use /tmp.
ENTRYPOINT ["chromium-headless-shell", "--no-sandbox", "--disable-gpu", \
    "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=/tmp/profile", \
    "--remote-debugging-address=127.0.0.1"]
CMD ["--remote-debugging-port=9222", "about:blank"]
