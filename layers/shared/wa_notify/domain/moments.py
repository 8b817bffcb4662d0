"""Time zones and date-times a client may give: one validator for each, used everywhere. Pure.

A zone name is looked up on the filesystem by `zoneinfo`, which answers a hostile name with
OSError (too long), IsADirectoryError ("Asia") or ValueError (a data file such as "zone.tab")
as well as ZoneInfoNotFoundError: every caller goes through `zone_info`, which turns all of
them into one ValueError and never lets a name that cannot be a zone reach the filesystem.
Date-times are bounded so that converting one to UTC, or moving it by a flow's offset (at most
366 days), can never leave Python's range (years 1 to 9999: OverflowError).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ZONE_MAX = 64  # the longest IANA name is 32 characters ("America/Argentina/ComodRivadavia")
# Area/Location[/Sub] made of letters, digits, "_", "-", "+": no dots, so never "..", a data file or a path
_ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}")
ZONE_PROBLEM = "is not an IANA time zone such as Asia/Taipei"

EARLIEST_YEAR = 1900
LATEST_YEAR = 9998  # a year of margin below datetime.max for offsets and UTC conversion
RANGE_PROBLEM = f"is out of range: years {EARLIEST_YEAR} to {LATEST_YEAR}"

# How far ahead anything is planned: a message's send_at and a flow step's minute (one rule).
MAX_AHEAD = timedelta(days=365)
AHEAD_PROBLEM = "is more than a year ahead"


def zone_info(name: Any) -> ZoneInfo:
    """The zone called `name`; ValueError(ZONE_PROBLEM) for anything else, whatever the input."""
    if not isinstance(name, str) or len(name) > ZONE_MAX or not _ZONE_RE.fullmatch(name):
        raise ValueError(ZONE_PROBLEM)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(ZONE_PROBLEM) from exc


def valid_zone(name: Any) -> bool:
    try:
        zone_info(name)
    except ValueError:
        return False
    return True


def in_range(moment: datetime) -> bool:
    return EARLIEST_YEAR <= moment.year <= LATEST_YEAR


def check_range(moment: datetime) -> datetime:
    """`moment` if safe to convert and offset; ValueError(RANGE_PROBLEM) otherwise (a pydantic AfterValidator too)."""
    if not in_range(moment):
        raise ValueError(RANGE_PROBLEM)
    return moment
