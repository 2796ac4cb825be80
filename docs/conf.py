"""Sphinx configuration for the flask-chatroom documentation.

Build it from the repository root::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

Only Sphinx itself is needed: no theme package, no network (no intersphinx).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Document the package in this checkout, installed or not.
sys.path.insert(0, str(ROOT))

import flask_chatroom  # noqa: E402

# -- project ------------------------------------------------------------------------

project = "flask-chatroom"
author = "flask-chatroom maintainers"
copyright = "flask-chatroom maintainers"
release = flask_chatroom.__version__
version = ".".join(release.split(".")[:2])

# -- general ------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build"]
pygments_style = "sphinx"

# -- autodoc ------------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "class"

# Without intersphinx, names from other projects cannot be linked; `-n` (nitpicky)
# would report each one. These are the third-party and typing names that appear in
# the public API's signatures.
nitpick_ignore = [
    ("py:class", "Flask"),
    ("py:class", "flask.Flask"),
    ("py:class", "flask.app.Flask"),
    ("py:class", "SocketIO"),
    ("py:class", "flask_socketio.SocketIO"),
    ("py:class", "Engine"),
    ("py:class", "sqlalchemy.Engine"),
    ("py:class", "sqlalchemy.engine.Engine"),
    ("py:class", "sqlalchemy.engine.base.Engine"),
    # The internal service a Chat wraps (see the architecture page).
    ("py:class", "flask_chatroom.service.ChatService"),
    # A type variable in the hook decorators' signatures (``(hook: H) -> H``).
    ("py:class", "flask_chatroom.extension.H"),
    # ChatError's docstring says :data:`ERROR_CODES`, which is
    # flask_chatroom.protocol.ERROR_CODES; from flask_chatroom.ChatError that
    # short name cannot be resolved. protocol.rst documents the codes.
    ("py:data", "ERROR_CODES"),
    # Message's signature has ``<factory>`` defaults, which are not Python, so
    # Sphinx splits it at commas and ``mentions: tuple[str, ...]`` comes out as
    # "tuple[str" and "...]".
    ("py:class", "tuple[str"),
    ("py:class", "tuple[~flask_chatroom.protocol.Reaction"),
]
nitpick_ignore_regex = [
    # The standard library's names (no intersphinx, so no inventory to link to).
    ("py:class", r"(typing|collections\.abc)\.\w+"),
    ("py:class", r"Any|Callable|Mapping"),
]

# -- HTML ---------------------------------------------------------------------------

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"flask-chatroom {release}"
html_theme_options = {
    "description": "A real-time chat that drops into an existing Flask app.",
    "fixed_sidebar": True,
}
