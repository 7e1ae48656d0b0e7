"""gunicorn settings for pypireg behind nginx on the same host (docs/deploying.md).

Installed as /etc/pypireg/gunicorn.conf.py and used by pypireg.service:
    gunicorn -c /etc/pypireg/gunicorn.conf.py pypireg.wsgi:application
The registry itself is configured by the PYPIREG_* variables the unit sets.
"""

# Only nginx on this host talks to gunicorn.
bind = "127.0.0.1:8000"

# Threaded workers: an upload holds one thread while its body streams in, so a few slow
# clients cannot take every worker. Each worker opens its own catalog connections after
# the fork (no preload_app), which SQLite needs. Raise workers with the number of cores.
worker_class = "gthread"
workers = 2
threads = 8

# A 1 GiB upload over a slow link takes minutes: a worker may stay busy for ten of them
# before it counts as stuck, and a stop or restart gives running requests two to finish
# (pypireg.service waits a little longer than that).
timeout = 600
graceful_timeout = 120

# gunicorn itself believes no forwarded header (X-Forwarded-Proto, ...) from any address:
# the registry's ProxyFix, set by PYPIREG_PROXY_COUNT, is the one place that decides.
forwarded_allow_ips = ""

# systemd's signals manage the server: no control socket (gunicorn 25.1 and later would
# make one under $HOME, which for the pypireg user is the data directory).
control_socket_disable = True

# The access log to stdout and the error log to stderr: the journal keeps both.
accesslog = "-"
errorlog = "-"
loglevel = "info"
proc_name = "pypireg"
