"""The chat's machinery under the service, one concern a module: who is
connected (:mod:`.connections`), rooms and their history (:mod:`.rooms`),
storing and broadcasting messages (:mod:`.publisher`), telling rooms who came
and went (:mod:`.announcer`), limits and mutes (:mod:`.moderation`). It reaches
the real-time server only through :class:`.runtime.Realtime`, and knows nothing
of Flask-SocketIO."""
