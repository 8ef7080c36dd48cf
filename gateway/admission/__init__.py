"""Getting a request's money in and out of the budget store safely.

``reservations`` reserves, settles and releases against every window, rate and concurrency
limit; ``idempotency`` makes a retried request charge once; ``journal`` keeps spend while the
store is down and replays it; ``reaper`` charges reservations a crashed replica left behind;
``unconfirmed`` releases reserves whose answer was lost.
"""
