"""What a client shows of a room, kept by the client rule of docs/protocol.rst
("Changes to messages"): shared by the tests of that rule (test_message_actions.py
on the test client, test_changes_live.py on real servers)."""

from __future__ import annotations

from typing import Any


class View:
    """A room as a client shows it, kept by the documented client rule: a
    change cursor, changes applied strictly in ``change_seq`` order, and a
    message skipping a change older than its own ``change_seq``.

    :meth:`apply` takes the change right after the cursor only (the tests that
    feed changes in order); :meth:`offer` is the whole of rule 2 for changes
    that come in any order and any number of times: it drops what is at or
    below the cursor, holds what is later, and applies what it can.
    """

    def __init__(self, history: dict[str, Any], me: str) -> None:
        self.me = me
        self.messages: dict[str, dict[str, Any]] = {}
        self.cursor = history["change_seq"]
        #: the change_seqs that changed a message this view holds (rule 3)
        self.applied: list[int] = []
        #: every change_seq the cursor passed, in order (applied or skipped)
        self.consumed: list[int] = []
        #: later changes waiting for the ones before them, by change_seq
        self.held: dict[int, dict[str, Any]] = {}
        #: changes offered again (at or below the cursor, or held already)
        self.repeats = 0
        #: changes that came before one with a lower change_seq
        self.out_of_order = 0
        #: the highest message seq this view has seen (rule 3)
        self.last_seq = history.get("since") or 0
        #: changes to messages newer than last_seq, waiting for them (rule 3)
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.load(history["messages"])

    def load(self, messages: list[dict[str, Any]]) -> None:
        """Messages that came (history, ``message receive``): kept, with any
        change that came before them applied (rule 3)."""
        for message in messages:
            kept = self.messages[message["id"]] = dict(message)
            self.last_seq = max(self.last_seq, message["seq"])
            for change in self.pending.pop(message["id"], ()):
                if kept.get("change_seq", 0) < change["change_seq"]:
                    self._set(kept, change)

    def offer(self, change: dict[str, Any]) -> None:
        """Rule 2: a change as it came (live, in a catch-up, from ``changes``)."""
        seq = change["change_seq"]
        if seq <= self.cursor or seq in self.held:
            self.repeats += 1
            return
        if seq != self.cursor + 1:
            self.out_of_order += 1
        self.held[seq] = change
        while self.cursor + 1 in self.held:
            self.apply(self.held.pop(self.cursor + 1))

    def apply(self, change: dict[str, Any]) -> None:
        assert change["change_seq"] == self.cursor + 1, (change, self.cursor)
        self.cursor = change["change_seq"]
        self.consumed.append(self.cursor)
        message = self.messages.get(change["id"])
        if message is None:
            if change["seq"] > self.last_seq:  # on its way: keep the change
                self.pending.setdefault(change["id"], []).append(change)
            return
        if message.get("change_seq", 0) >= change["change_seq"]:
            return
        self._set(message, change)

    def _set(self, message: dict[str, Any], change: dict[str, Any]) -> None:
        """Rule 3: the message takes the state *change* sets."""
        self.applied.append(change["change_seq"])
        message["change_seq"] = change["change_seq"]
        if change["kind"] == "edit":
            message.update(message=change["message"], edited_ts=change["edited_ts"])
            message.pop("html", None)
            if "html" in change:
                message["html"] = change["html"]
        elif change["kind"] == "delete":
            message.update(deleted=True, message="")
            message.pop("html", None)
            message.pop("reactions", None)
        else:
            reactions = [
                {k: v for k, v in r.items() if k != "me"} for r in change["reactions"]
            ]
            if reactions:
                message["reactions"] = reactions
            else:
                message.pop("reactions", None)

    def shown(self) -> list[tuple[Any, ...]]:
        return [
            (
                m["id"],
                m["message"],
                m.get("html"),
                m.get("edited_ts"),
                bool(m.get("deleted")),
                [(r["emoji"], r["count"]) for r in m.get("reactions", ())],
            )
            for m in sorted(self.messages.values(), key=lambda m: m["seq"])
        ]

    def state(self) -> list[tuple[Any, ...]]:
        """:meth:`shown` with who reacted and each message's ``change_seq``."""
        return [
            (
                *shown,
                [tuple(r["user_ids"]) for r in m.get("reactions", ())],
                m.get("change_seq"),
            )
            for shown, m in zip(
                self.shown(),
                sorted(self.messages.values(), key=lambda m: m["seq"]),
                strict=True,
            )
        ]
