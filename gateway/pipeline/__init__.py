"""The path one image request takes, generation or edit, live or batch.

``routing`` decides the tier from the classification and the team's policy; ``pricing``
gives its worst case and, after the call, its cost; ``service`` holds the sequence
(snapshot, decide, reserve, call, check, settle) with ``resilience`` for retries, fallbacks
and circuit breakers; ``outcome`` is what a call produced; ``serving`` is what serves under
one policy (the key ring and the service), rebuilt on reload. The edges it calls are
``gateway.admission`` (budgets, reservations), ``gateway.upstream`` (the model tiers) and
``gateway.verify`` (reading the image's text back).
"""
