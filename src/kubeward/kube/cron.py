"""CronJob schedules as the CronJob controller reads them: five cron fields or a macro, in
``spec.timeZone`` (an IANA name) or, without one, in UTC.

One home for the simulator's CronJob controller and the collector's
``kube_cronjob_next_schedule_time``. Validation of the schedule's text (robfig/cron's errors)
lives with the other API validation, in :mod:`kubeward.kube.validation`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

# robfig/cron's descriptors that the CronJob API accepts.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

Schedule = tuple[str, ZoneInfo | None]  # cron expression, time zone (None: UTC)


def parse_schedule(schedule: str, time_zone: str | None) -> Schedule:
    """``spec.schedule`` and ``spec.timeZone`` as a :data:`Schedule`.

    Raises ``ValueError`` for a schedule that does not parse or that names its zone inline
    (``CRON_TZ=``, ``TZ=``), and ``ZoneInfoNotFoundError`` for an unknown zone.
    """
    text = str(schedule).strip()
    if text.startswith("CRON_TZ=") or text.startswith("TZ="):
        raise ValueError("CRON_TZ or TZ used in schedule; use spec.timeZone instead")
    expr = MACROS.get(text, text)
    try:
        CronSim(expr, datetime.now(UTC))  # parses, or raises
    except CronSimError as exc:  # not a ValueError: callers catch one type for both causes
        raise ValueError(str(exc)) from exc
    return expr, ZoneInfo(time_zone) if time_zone else None


def times_after(schedule: Schedule, after: datetime) -> CronSim:
    """The scheduled times strictly after ``after``, in the schedule's zone (aware datetimes)."""
    expr, tz = schedule
    return CronSim(expr, after.astimezone(tz or UTC))


def next_after(schedule: Schedule, after: datetime) -> datetime:
    """The first scheduled time strictly after ``after``, in UTC (robfig/cron's ``Next``)."""
    return next(iter(times_after(schedule, after))).astimezone(UTC)
