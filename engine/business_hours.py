"""A bot's business hours: when a person can be offered (outside them the visitor gets the offline form).

The setting is JSON on the bot: `{"timezone": "Europe/Berlin", "hours": {"mon": [["09:00", "17:30"]]}}`.
Empty means always open. A day that is not listed is closed; a range may not cross midnight (write
two ranges, one on each day). Plain Python: the admin validates with `business_hours_errors`, the
turn and the widget's state ask `business_hours_open`.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def business_hours_errors(hours: Any) -> list[str]:
    """What is wrong with a business-hours setting, in words an admin can act on ([] = valid)."""
    if hours in (None, {}):
        return []
    if not isinstance(hours, dict):
        return ["Business hours must be a JSON object."]
    errors: list[str] = []
    try:
        ZoneInfo(str(hours.get("timezone", "")))
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"Unknown time zone {hours.get('timezone')!r}; use an IANA name such as Europe/Berlin.")
    days = hours.get("hours")
    if not isinstance(days, dict):
        return [*errors, '"hours" must map days (mon..sun) to lists of ["HH:MM", "HH:MM"] ranges.']
    for day, ranges in days.items():
        if day not in DAYS:
            errors.append(f"Unknown day {day!r}; use {', '.join(DAYS)}.")
            continue
        if not isinstance(ranges, list):
            errors.append(f"{day}: a list of ranges is expected.")
            continue
        for pair in ranges:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                errors.append(f'{day}: each range is ["HH:MM", "HH:MM"].')
            elif not all(_CLOCK.match(p) for p in pair):
                errors.append(f"{day}: {pair} is not two 24-hour times.")
            elif pair[0] >= pair[1]:
                errors.append(f"{day}: {pair} ends before it starts (split ranges that cross midnight).")
    return errors


def business_hours_open(hours: Any, now: datetime) -> bool:
    """Whether `now` (aware) falls inside the hours. An empty or invalid setting counts as open: a
    typo must not silently hide every agent (the admin form refuses invalid settings anyway)."""
    if not hours or business_hours_errors(hours):
        return True
    local = now.astimezone(ZoneInfo(hours["timezone"]))
    clock = local.time()
    for start, end in hours["hours"].get(DAYS[local.weekday()], []):
        if _parse(start) <= clock and (end == "24:00" or clock < _parse(end)):
            return True
    return False


def _parse(clock: str) -> time:
    hours, minutes = clock.split(":")
    return time(int(hours) % 24, int(minutes))
