"""The journal's tests replay into real stores: the budget suite's store fixtures, shared."""

from tests.budget.conftest import key_prefix, store, store_options, store_url

__all__ = ["key_prefix", "store", "store_options", "store_url"]
