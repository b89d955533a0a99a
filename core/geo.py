"""Distances on the Earth as MongoDB measures them for its 2dsphere queries: on a sphere of MongoDB's radius.

MongoDB turns angles into meters with ``kRadiusOfEarthInMeters`` = 6378.1 km, the equatorial radius its manual
gives for converting distances to radians ("Convert Distance to Radians for Spherical Operators"); ``$nearSphere``
/ ``$geoNear`` distances in meters and ``$centerSphere`` radii in radians are related by it.
"""

from __future__ import annotations

import math

EARTH_RADIUS_METERS = 6378100.0


def central_angle(longitude1: float, latitude1: float, longitude2: float, latitude2: float) -> float:
    """The angle (radians) between two points seen from the Earth's centre: haversine, in its atan2 form so it
    stays exact for points close together and close to antipodal."""
    phi1, phi2 = math.radians(latitude1), math.radians(latitude2)
    half_dphi = math.radians(latitude2 - latitude1) / 2
    half_dlambda = math.radians(longitude2 - longitude1) / 2
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    a = min(max(a, 0.0), 1.0)
    return 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a))


def distance_meters(longitude1: float, latitude1: float, longitude2: float, latitude2: float) -> float:
    """The great-circle distance between two points, in meters."""
    return central_angle(longitude1, latitude1, longitude2, latitude2) * EARTH_RADIUS_METERS


def antipode(longitude: float, latitude: float) -> tuple[float, float]:
    """The point on the other side of the Earth (longitude, latitude)."""
    return (longitude + 180 if longitude < 0 else longitude - 180), -latitude
