"""Check-in geofence maths: distance between two GCJ-02 points and inside/outside (article 3.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# IUGG mean Earth radius. The spherical model is off by < 0.5 % against the ellipsoid, i.e. under
# a metre at geofence distances (a few hundred metres): far below GPS error.
EARTH_RADIUS_M = 6_371_008.8

# A reported accuracy is the radius of the circle the true position probably lies in (WeChat
# wx.getLocation `accuracy`: "10 means within 10 m of the real position"). We allow that much
# slack so a worker standing at the edge is not refused for GPS noise, but never more than this:
# a coarse cell-tower or IP fix (accuracy of kilometres) must not pass the fence.
MAX_ACCURACY_SLACK_M = 100.0


class InvalidCoordinates(ValueError):
    """A coordinate or radius no real device reports: refuse it rather than measure nonsense."""


@dataclass(frozen=True)
class GeofenceResult:
    """Whether a check-in location counts as inside, and how far it was from the centre."""

    inside: bool
    distance_m: float


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two GCJ-02 points.

    No datum shift is needed: GCJ-02 is WGS-84 plus an obfuscation offset that varies smoothly
    over tens of kilometres, so two points a few hundred metres apart carry almost the same
    offset and their GCJ-02 distance equals their WGS-84 distance to well under a metre. Both the
    roster's community centre (communities.csv) and wx.getLocation({type: 'gcj02'}) are GCJ-02.
    Mixing in a raw WGS-84 fix would be wrong by up to several hundred metres.
    """
    for name, value, limit in (
        ("lat1", lat1, 90.0),
        ("lng1", lng1, 180.0),
        ("lat2", lat2, 90.0),
        ("lng2", lng2, 180.0),
    ):
        _check_range(name, value, limit)
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def check_geofence(
    centre_lat: float,
    centre_lng: float,
    radius_m: float,
    lat: float,
    lng: float,
    accuracy_m: float | None,
) -> GeofenceResult:
    """Is (lat, lng) inside the circle around the centre, allowing min(accuracy, 100 m) slack?

    Exactly on the (slackened) edge counts as inside. Raises InvalidCoordinates for
    out-of-range, non-finite or (0, 0) coordinates, a radius <= 0 or a negative accuracy.
    """
    if not _finite(radius_m) or radius_m <= 0:
        raise InvalidCoordinates(f"radius_m must be a positive number, got {radius_m!r}")
    if accuracy_m is not None and (not _finite(accuracy_m) or accuracy_m < 0):
        raise InvalidCoordinates(f"accuracy_m must be >= 0, got {accuracy_m!r}")
    # (0, 0) is in the Gulf of Guinea: it is what a device sends when it has no fix at all.
    if lat == 0 and lng == 0:
        raise InvalidCoordinates("location (0, 0) means the device had no fix")
    distance = haversine_m(centre_lat, centre_lng, lat, lng)
    slack = min(accuracy_m, MAX_ACCURACY_SLACK_M) if accuracy_m is not None else 0.0
    return GeofenceResult(inside=distance <= radius_m + slack, distance_m=distance)


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_range(name: str, value: float, limit: float) -> None:
    if not _finite(value) or not -limit <= value <= limit:
        raise InvalidCoordinates(f"{name} must be a number within ±{limit:g}, got {value!r}")
