"""Run the example host app on gevent: ``python -m examples.hostapp``.

``HOST`` and ``PORT`` pick the address (default 127.0.0.1:5000). This is gevent's
WSGI server with WebSocket support, the same stack as ``gunicorn -k gevent``; it
is not the Werkzeug development server.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

from flask_chatroom.store import SCHEMA_VERSION  # noqa: E402

from .app import create_app  # noqa: E402


def main() -> None:
    """Serve the example app until interrupted. Its chat database is brought to
    this release's schema first (``flask chatroom migrate``), so a demo
    database left by an older release keeps working; a host of its own decides
    when to migrate (see the storage docs)."""
    app = create_app()
    had = app.extensions["chatroom"].store.migrate()
    if had is not None and had != SCHEMA_VERSION:
        print(
            f" * chat database migrated from schema version {had} to {SCHEMA_VERSION}",
            flush=True,
        )
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "5000"))
    print(f" * flask-chatroom example host app on http://{host}:{port}/", flush=True)
    app.extensions["socketio"].run(app, host=host, port=port, log_output=True)


if __name__ == "__main__":
    main()
