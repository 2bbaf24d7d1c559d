"""The event center: every Kubernetes Event (core/v1 and events.k8s.io/v1) in the SQL store.

- :mod:`~kubeward.events.normalize`: both Event shapes -> one row shape;
- :mod:`~kubeward.events.upsert`: dedupe by uid, newer resourceVersion wins;
- :mod:`~kubeward.events.writer`: batching, bounded buffering while the store is down,
  counted overflow, watch resume points;
- :mod:`~kubeward.events.query` / :mod:`~kubeward.events.retention`: reading and purging;
- :mod:`~kubeward.events.cli`: ``kubeward events ...``.
"""

from kubeward.events.normalize import EventShapeError, normalize_event
from kubeward.events.query import EventFilter, list_events, stats
from kubeward.events.retention import purge_events
from kubeward.events.upsert import upsert_events
from kubeward.events.writer import EventWriter

__all__ = [
    "EventFilter",
    "EventShapeError",
    "EventWriter",
    "list_events",
    "normalize_event",
    "purge_events",
    "stats",
    "upsert_events",
]
