"""What makes the service operable, apart from its settings (config/) and its
apps: health probes, request IDs, log format, the client's address behind the
proxy, the metered cache and traces. Django's settings and gunicorn.conf.py
name these modules; none of them is an app.
"""
