"""Errors a store user can act on; each message names what is wrong and how to fix it."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be used (unreachable server, schema from a newer kubeward, ...)."""


class StoreURLError(StoreError, ValueError):
    """A store URL that kubeward cannot use."""


class StoreNotFoundError(StoreError):
    """A SQLite store opened read-only that does not exist (yet)."""
