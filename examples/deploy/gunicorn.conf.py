"""gunicorn settings for a flask-chatroom app: one gevent worker per process.

    gunicorn -c examples/deploy/gunicorn.conf.py "examples.hostapp.app:create_app()"

Why one worker: a Socket.IO connection and its rooms live in the worker process
that accepted it, and Socket.IO's polling transport sends several requests that
must reach that same worker. To use more CPU cores, run several of these
processes, give them Flask-SocketIO's message queue (Redis) and PostgreSQL, and
put a load balancer with sticky sessions in front (see nginx.conf here).

``workers = 1`` is set here on purpose: gunicorn otherwise takes its default
from ``WEB_CONCURRENCY``, which some platforms set to the number of cores.
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:5000")
worker_class = "gevent"
workers = 1
# gunicorn's default is 1,000: the 1,001st client would wait in the accept queue.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
# gevent workers answer the arbiter's heartbeat while connections stay open.
timeout = 30
graceful_timeout = 10
# Socket.IO keeps connections open; don't recycle workers after N requests.
max_requests = 0
