"""Serve the example host app for tests: ``python tests/serve.py --port P``.

``--async-mode gevent`` (gevent's WSGI server, as in production) or ``threading``;
``--config`` is a JSON object of Flask config keys. The app is
tests/testapp.py's: the example host app with the routes tests use.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.testapp import create_app  # noqa: E402

app = create_app({"SOCKETIO_ASYNC_MODE": args.async_mode, **json.loads(args.config)})
socketio = app.extensions["socketio"]
kwargs = {"allow_unsafe_werkzeug": True} if args.async_mode == "threading" else {}
socketio.run(app, host="127.0.0.1", port=args.port, **kwargs)
