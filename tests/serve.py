"""Serve the example host app for tests: ``python tests/serve.py --port P``.

``--async-mode gevent`` (gevent's WSGI server, as in production) or ``threading``;
``--config`` is a JSON object of Flask config keys. Adds ``/tutorial``: the
original tutorial's page, its script unchanged, loading the bundled client.
"""

from __future__ import annotations

import argparse
import json
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--async-mode", default="gevent", choices=["gevent", "threading"])
parser.add_argument("--config", default="{}")
args = parser.parse_args()

if args.async_mode == "gevent":
    from gevent import monkey

    monkey.patch_all()

from pathlib import Path  # noqa: E402

from flask import Response  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from examples.hostapp.app import create_app  # noqa: E402

config = {"SOCKETIO_ASYNC_MODE": args.async_mode, **json.loads(args.config)}
# TEST_PING: [interval, timeout] in seconds for Engine.IO (default 25 and 20).
ping = config.pop("TEST_PING", None)
app = create_app(config)
if ping is not None:
    eio = app.extensions["socketio"].server.eio
    eio.ping_interval, eio.ping_timeout = ping
TUTORIAL = (Path(__file__).parent / "tutorial.html").read_text()


@app.route("/tutorial")
def tutorial() -> Response:
    return Response(TUTORIAL, mimetype="text/html")


socketio = app.extensions["socketio"]


@app.route("/_test/websockets")
def websockets_in_use() -> dict[str, int]:
    """How many Engine.IO sockets write directly (flask_chatroom.websocket)."""
    sockets = list(socketio.server.eio.sockets.values())
    direct = sum(type(s.queue).__name__ == "DirectQueue" for s in sockets)
    return {"direct": direct, "queued": len(sockets) - direct}


kwargs = {"allow_unsafe_werkzeug": True} if args.async_mode == "threading" else {}
socketio.run(app, host="127.0.0.1", port=args.port, **kwargs)
