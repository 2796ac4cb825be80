"""The baseline: a bare Flask-SocketIO chat written the way the tutorial writes it.

    gunicorn -k gevent -w 1 "benchmarks.baseline_app:app"

No store, no rooms, no identity, no limits: one handler that broadcasts.
"""

from flask import Flask, request
from flask_socketio import SocketIO, emit

app = Flask(__name__)
app.config["SECRET_KEY"] = "baseline"
socketio = SocketIO(app, async_mode="gevent")


@app.route("/hello")
def hello() -> str:
    return "hello"


@socketio.on("message broadcast")
def broadcast(data: dict[str, str]) -> None:
    emit(
        "message receive",
        {"client": request.sid, "message": data["message"]},  # type: ignore[attr-defined]
        broadcast=True,
    )
