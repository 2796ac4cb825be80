"""Where the chat keeps what it knows: messages (:mod:`.sql`, :mod:`.memory`),
presence, rate limits and per-user facts (:mod:`.local`, :mod:`.redis`), each
behind an interface in :mod:`.interfaces`. :mod:`.select` is the one place that
picks them from the configuration."""
