"""Redis key and hash-field names of the budget store, all under one hash tag per tenant.

Layout (prefix `tg`, team `acme`)::

    tg:{acme}:spent                hash  <period>:<bucket>:<scope> -> micro-dollars spent
    tg:{acme}:reserved             hash  <period>:<bucket>:<scope> -> micro-dollars held
    tg:{acme}:expiry               zset  <period>:<bucket>:<scope> scored by expiry (ms)
    tg:{acme}:inflight             hash  <scope> -> requests in flight
    tg:{acme}:deadlines            zset  <reservation id> scored by deadline (ms)
    tg:{acme}:rsv:<id>             hash  one outstanding reservation
    tg:{acme}:done:<id>            hash  tombstone of a settled/released/reaped reservation
                                         or of a charge (charge ids share this namespace)
    tg:{acme}:rpm:<minute>:<scope> string requests admitted in that epoch minute
    tg:{acme}:events               stream ledger entries written by settle, reap and charge
    tg:{acme}:agg:<bucket>         hash  caller-named aggregate counters of one bucket (day)
    tg:{lat:<tier>}:samples        zset  latency samples scored by time (ms)

Window counters are fields of two per-team hashes rather than keys of their own, so
settle, release and reap can find every key from (team, reservation id) alone and still
pass each key through KEYS. Field expiry is kept in the `expiry` zset and applied lazily
by reserve, using the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.budget.store import RPM_WINDOW_MS, Window, check_team, check_tier


def window_field(window: Window) -> str:
    """Hash field of a window's counters; unambiguous because period and bucket hold no ':'."""
    return f"{window.period}:{window.bucket}:{window.scope}"


def rpm_minute(now_ms: int) -> int:
    """Epoch minute `now_ms` falls in (fixed request-per-minute windows)."""
    return now_ms // RPM_WINDOW_MS


@dataclass(frozen=True, slots=True)
class TeamKeys:
    """Every key of one team; all share the `{team}` hash tag, hence one cluster slot."""

    base: str

    @property
    def spent(self) -> str:
        return f"{self.base}:spent"

    @property
    def reserved(self) -> str:
        return f"{self.base}:reserved"

    @property
    def expiry(self) -> str:
        return f"{self.base}:expiry"

    @property
    def inflight(self) -> str:
        return f"{self.base}:inflight"

    @property
    def deadlines(self) -> str:
        return f"{self.base}:deadlines"

    @property
    def events(self) -> str:
        return f"{self.base}:events"

    def reservation(self, reservation_id: str) -> str:
        return f"{self.base}:rsv:{reservation_id}"

    def done(self, reservation_id: str) -> str:
        return f"{self.base}:done:{reservation_id}"

    def rpm(self, scope: str, minute: int) -> str:
        return f"{self.base}:rpm:{minute}:{scope}"

    def aggregates(self, bucket: str) -> str:
        return f"{self.base}:agg:{bucket}"

    @property
    def common(self) -> list[str]:
        """KEYS[1..5] of every budget script."""
        return [self.spent, self.reserved, self.expiry, self.inflight, self.deadlines]


@dataclass(frozen=True, slots=True)
class KeySpace:
    prefix: str = "tg"

    def __post_init__(self) -> None:
        if not self.prefix or "{" in self.prefix or "}" in self.prefix:
            raise ValueError(f"key prefix must be non-empty and brace-free: {self.prefix!r}")

    def team(self, team: str) -> TeamKeys:
        check_team(team)
        return TeamKeys(f"{self.prefix}:{{{team}}}")

    def latency(self, tier: str) -> str:
        check_tier(tier)
        return f"{self.prefix}:{{lat:{tier}}}:samples"
