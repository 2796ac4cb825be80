"""The doors into the chat: Socket.IO events (:mod:`.socketio`), the HTTP pages
and API (:mod:`.http`), the ``flask chatroom`` commands (:mod:`.cli`) and the
setup check (:mod:`.doctor`). Each parses its input, calls the service and
shapes the answer; none decides a permission."""
