# Stand-in for ghcr.io/astral-sh/uv:X.Y.Z: the same two static binaries, taken
# from the uv wheel on PyPI, in an otherwise empty image.
FROM scratch
COPY uv uvx /
ENTRYPOINT ["/uv"]
