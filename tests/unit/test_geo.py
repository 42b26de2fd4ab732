"""Check-in geofence: distances between GCJ-02 points and the inside/outside decision."""

from __future__ import annotations

import math

import pytest

from server.domain.geo import InvalidCoordinates, check_geofence, haversine_m

# West Lake area, Hangzhou (GCJ-02).
LAT, LNG = 30.2741, 120.1551
# One hundredth of a degree of latitude on a sphere of the mean Earth radius.
ONE_HUNDREDTH_DEGREE_M = 6_371_008.8 * math.pi / 180 * 0.01  # ~1111.95 m
# Latitude step for `metres` northwards.
PER_METRE = 0.01 / ONE_HUNDREDTH_DEGREE_M


def north(metres: float) -> float:
    return LAT + metres * PER_METRE


def test_one_hundredth_degree_of_latitude_in_hangzhou_is_1112_m():
    assert haversine_m(LAT, LNG, LAT + 0.01, LNG) == pytest.approx(1111.95, abs=0.5)


def test_a_degree_of_longitude_is_shorter_than_one_of_latitude_in_hangzhou():
    # cos(30.27°) = 0.8637: 0.01° east is ~960 m here.
    assert haversine_m(LAT, LNG, LAT, LNG + 0.01) == pytest.approx(960.4, abs=1.0)


def test_distance_to_the_same_point_is_zero():
    assert haversine_m(LAT, LNG, LAT, LNG) == 0.0


def test_distance_is_the_same_both_ways():
    assert haversine_m(LAT, LNG, 30.28, 120.17) == pytest.approx(
        haversine_m(30.28, 120.17, LAT, LNG)
    )


def test_point_near_the_centre_is_inside():
    result = check_geofence(LAT, LNG, 300, north(50), LNG, accuracy_m=10)
    assert result.inside
    assert result.distance_m == pytest.approx(50, abs=0.01)


def test_point_a_kilometre_away_is_outside():
    result = check_geofence(LAT, LNG, 300, LAT + 0.01, LNG, accuracy_m=10)
    assert not result.inside
    assert result.distance_m == pytest.approx(1111.95, abs=0.5)


def test_point_exactly_on_the_edge_is_inside():
    lat = north(300)
    radius = haversine_m(LAT, LNG, lat, LNG)
    assert check_geofence(LAT, LNG, radius, lat, LNG, accuracy_m=None).inside


def test_point_just_past_the_edge_without_accuracy_is_outside():
    assert not check_geofence(LAT, LNG, 300, north(301), LNG, accuracy_m=None).inside


def test_accuracy_gives_slack_at_the_edge():
    assert check_geofence(LAT, LNG, 300, north(320), LNG, accuracy_m=30).inside


def test_slack_is_no_more_than_the_accuracy():
    assert not check_geofence(LAT, LNG, 300, north(340), LNG, accuracy_m=30).inside


def test_coarse_fix_gets_at_most_100_m_slack():
    assert check_geofence(LAT, LNG, 300, north(390), LNG, accuracy_m=2000).inside
    assert not check_geofence(LAT, LNG, 300, north(410), LNG, accuracy_m=2000).inside


@pytest.mark.parametrize(
    ("lat", "lng"),
    [(91.0, LNG), (-90.5, LNG), (LAT, 180.5), (LAT, -181.0), (math.nan, LNG), (LAT, math.inf)],
)
def test_out_of_range_coordinates_are_invalid(lat: float, lng: float):
    with pytest.raises(InvalidCoordinates):
        check_geofence(LAT, LNG, 300, lat, lng, accuracy_m=10)


def test_zero_zero_means_no_fix_and_is_invalid():
    with pytest.raises(InvalidCoordinates, match="no fix"):
        check_geofence(LAT, LNG, 300, 0.0, 0.0, accuracy_m=10)


def test_bad_centre_is_invalid():
    with pytest.raises(InvalidCoordinates):
        check_geofence(95.0, LNG, 300, LAT, LNG, accuracy_m=10)


@pytest.mark.parametrize("radius", [0, -5, math.nan])
def test_non_positive_radius_is_invalid(radius: float):
    with pytest.raises(InvalidCoordinates):
        check_geofence(LAT, LNG, radius, LAT, LNG, accuracy_m=10)


@pytest.mark.parametrize("accuracy", [-1.0, math.nan])
def test_negative_accuracy_is_invalid(accuracy: float):
    with pytest.raises(InvalidCoordinates):
        check_geofence(LAT, LNG, 300, LAT, LNG, accuracy_m=accuracy)
