from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from dataframe_pipeline.enrich.geo import (
    DEFAULT_REGIONS,
    EARTH_RADIUS_KM,
    CoordinatesToRegion,
    HaversineDistance,
    points_in_polygon,
)
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def trips() -> pd.DataFrame:
    # JFK -> LAX, JFK -> JFK, a null, the equator a quarter of the way round
    return pd.DataFrame(
        {
            "la": [40.6413, 40.6413, np.nan, 0.0],
            "lo": [-73.7781, -73.7781, 1.0, 0.0],
            "lb": [33.9416, 40.6413, 1.0, 0.0],
            "lob": [-118.4085, -73.7781, 1.0, 90.0],
        },
        index=pd.RangeIndex(3, 7),
    )


def test_haversine_values(trips: pd.DataFrame) -> None:
    out = HaversineDistance("la", "lo", "lb", "lob").transform(trips).data
    d = out["distance_km"].tolist()
    assert d[0] == pytest.approx(3974.3, abs=0.1)  # on the sphere (the WGS84 ellipsoid gives ~3983 km)
    assert d[1] == 0.0
    assert math.isnan(d[2])
    assert d[3] == pytest.approx(math.pi / 2 * EARTH_RADIUS_KM, rel=1e-12)
    assert list(out.index) == [3, 4, 5, 6]


def test_haversine_matches_scikit_learn(trips: pd.DataFrame) -> None:
    from sklearn.metrics.pairwise import haversine_distances

    rows = trips.dropna()
    ours = HaversineDistance("la", "lo", "lb", "lob", output="d").transform(rows).data["d"].to_numpy()
    a = np.radians(rows[["la", "lo"]].to_numpy())
    b = np.radians(rows[["lb", "lob"]].to_numpy())
    expected = np.diag(haversine_distances(a, b)) * EARTH_RADIUS_KM
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_haversine_edges_and_errors(trips: pd.DataFrame) -> None:
    t = HaversineDistance("la", "lo", "lb", "lob")
    empty = t.transform(trips.iloc[:0]).data
    assert empty["distance_km"].dtype == np.float64
    assert_frame_equal(
        pd.concat([t.transform(trips.iloc[:2]).data, t.transform(trips.iloc[2:]).data]), t.transform(trips).data
    )
    with pytest.raises(DataContractError, match="outside"):
        t.transform(trips.assign(la=[91.0, 0, 0, 0]))
    with pytest.raises(ConfigurationError, match="output"):
        HaversineDistance("la", "lo", "lb", "lob", output="la").check_params(list(trips.columns))


def test_point_in_polygon_square_and_concave() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    lon = np.array([5, 15, -1, 9.9, np.nan])
    lat = np.array([5, 5, 5, 0.1, 5])
    assert points_in_polygon(lon, lat, square).tolist() == [True, False, False, True, False]
    # a U shape: the notch (5, 8) is outside
    u = np.array([[0, 0], [10, 0], [10, 10], [6, 10], [6, 4], [4, 4], [4, 10], [0, 10]], dtype=float)
    assert points_in_polygon(np.array([5.0, 2.0, 8.0]), np.array([8.0, 8.0, 8.0]), u).tolist() == [False, True, True]


CITIES = {
    "Paris": (48.86, 2.35, "Europe"),
    "Moscow": (55.75, 37.62, "Europe"),
    "Istanbul Asian side (Ankara)": (39.93, 32.86, "Asia"),
    "Cairo": (30.04, 31.24, "Africa"),
    "Tunis": (36.81, 10.18, "Africa"),
    "Malta": (35.9, 14.5, "Europe"),
    "Nairobi": (-1.29, 36.82, "Africa"),
    "Tokyo": (35.68, 139.69, "Asia"),
    "Mumbai": (19.08, 72.88, "Asia"),
    "Jakarta": (-6.2, 106.85, "Asia"),
    "Sydney": (-33.87, 151.21, "Oceania"),
    "Auckland": (-36.85, 174.76, "Oceania"),
    "New York": (40.71, -74.01, "North America"),
    "Mexico City": (19.43, -99.13, "North America"),
    "Panama City": (8.98, -79.52, "North America"),
    "Anchorage": (61.22, -149.9, "North America"),
    "Reykjavik": (64.15, -21.94, "Europe"),
    "Caracas": (10.49, -66.88, "South America"),
    "Sao Paulo": (-23.55, -46.63, "South America"),
    "McMurdo": (-77.85, 166.67, "Antarctica"),
    "South Atlantic": (-40.0, -20.0, None),
    "Mid Pacific": (0.0, -140.0, None),
}


def test_shipped_continents() -> None:
    df = pd.DataFrame({"lat": [c[0] for c in CITIES.values()], "lon": [c[1] for c in CITIES.values()]})
    out = CoordinatesToRegion("lat", "lon").transform(df).data
    got = dict(zip(CITIES, out["region"].tolist(), strict=True))
    expected = {name: c[2] for name, c in CITIES.items()}
    assert {k: (None if pd.isna(v) else v) for k, v in got.items()} == expected
    assert out["region"].dtype == "str"
    assert DEFAULT_REGIONS == ROOT / "include" / "reference" / "regions.json"


def test_custom_regions_dict_file_bbox_and_order(tmp_path: Path) -> None:
    spec = {
        "regions": [
            {"name": "inner", "bbox": [0, 0, 1, 1]},
            {"name": "outer", "polygons": [[[-5, -5], [5, -5], [5, 5], [-5, 5]]]},
        ]
    }
    df = pd.DataFrame({"y": [0.5, 3.0, 9.0, None], "x": [0.5, 3.0, 9.0, 1.0]}, index=[7, 8, 9, 10])
    out = CoordinatesToRegion("y", "x", output="zone", regions=spec).transform(df).data
    assert out["zone"].tolist()[:2] == ["inner", "outer"]
    assert out["zone"].isna().tolist() == [False, False, True, True]
    path = tmp_path / "zones.json"
    path.write_text(json.dumps(spec))
    again = CoordinatesToRegion("y", "x", output="zone", regions=str(path)).transform(df).data
    assert_frame_equal(again, out)
    empty = CoordinatesToRegion("y", "x", regions=spec).transform(df.iloc[:0]).data
    assert empty["region"].dtype == "str"


def test_region_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        CoordinatesToRegion("a", "b", regions=str(tmp_path / "none.json")).check_params()
    with pytest.raises(ConfigurationError, match="name"):
        CoordinatesToRegion("a", "b", regions={"regions": [{"bbox": [0, 0, 1, 1]}]}).check_params()
    with pytest.raises(ConfigurationError, match="polygon"):
        CoordinatesToRegion(
            "a", "b", regions={"regions": [{"name": "x", "polygons": [[[0, 0], [1, 1]]]}]}
        ).check_params()
