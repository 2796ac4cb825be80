"""The baseline: a bare Flask-SocketIO chat written the way the tutorial writes it.

    gunicorn -k gevent -w 1 "benchmarks.baseline_app:app"

No store, no rooms, no identity, no limits: one handler that broadcasts, and
acknowledges the message when the client asks for an ack (the small-rooms mode
sends each message with one, as the chat's own client does).
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
def broadcast(data: dict[str, str]) -> dict[str, bool]:
    emit(
        "message receive",
        {"client": request.sid, "message": data["message"]},  # type: ignore[attr-defined]
        broadcast=True,
    )
    return {"ok": True}  # the ack, sent only when the client asked for one
