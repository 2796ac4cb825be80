"""An existing Flask site that adds flask-chatroom: the bundled example host app.

Run it (gevent, http://127.0.0.1:5000/)::

    python -m examples.hostapp

The app itself is :func:`examples.hostapp.app.create_app`.
"""
