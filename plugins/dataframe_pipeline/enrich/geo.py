"""Geographic features: great-circle distance and the region a point falls in (both stateless).

Coordinates are decimal degrees (WGS84). Regions are polygons (or rectangles) given as
``[longitude, latitude]`` pairs, GeoJSON's order; the shipped reference
``include/reference/regions.json`` holds the continents as coarse polygons. The point-in-polygon
test is a ray-casting (even-odd) test on the plane of longitude and latitude, vectorised over the
rows: fine for coarse regions that do not cross the antimeridian (split those in two polygons).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dataframe_pipeline.core.batch import BatchResult
from dataframe_pipeline.core.columns import check_column_list, require_columns
from dataframe_pipeline.core.transform import BatchTransformer
from dataframe_pipeline.enrich.scaling import _as_float
from dataframe_pipeline.exceptions import ConfigurationError, DataContractError

if TYPE_CHECKING:
    from collections.abc import Sequence

#: mean Earth radius (IUGG), km
EARTH_RADIUS_KM = 6371.0088
#: the shipped reference regions (the continents)
DEFAULT_REGIONS = Path(__file__).resolve().parents[3] / "include" / "reference" / "regions.json"


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (NaN where a coordinate is NaN)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlam = np.radians(lon2 - lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _check_output(value: object, columns: Sequence[str] | None) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError("output", value, "must be a column name")
    if columns is not None and value in columns:
        raise ConfigurationError("output", value, "already exists in the input")


def _coordinates(batch: pd.DataFrame, col: str, who: str, limit: float) -> np.ndarray:
    """The column as float64 degrees; a value outside ``[-limit, limit]`` breaks the data contract."""
    values = _as_float(batch[col], who)
    if (np.abs(values) > limit).any():
        bad = values[np.abs(values) > limit][:5].tolist()
        raise DataContractError(f"{who}: column {col!r} has values outside [-{limit}, {limit}]: {bad}")
    return values


class HaversineDistance(BatchTransformer):
    """Add ``output``: the great-circle distance in km (float64) between two points of each row.

    Uses a spherical Earth of radius :data:`EARTH_RADIUS_KM`; a null coordinate gives a null
    distance; a latitude beyond 90 or a longitude beyond 180 in absolute value is a data-contract error.

    :param lat1: latitude column of the first point.
    :param lon1: longitude column of the first point.
    :param lat2: latitude column of the second point.
    :param lon2: longitude column of the second point.
    :param output: name of the new column.
    """

    def __init__(self, lat1: str, lon1: str, lat2: str, lon2: str, output: str = "distance_km") -> None:
        self.lat1 = lat1
        self.lon1 = lon1
        self.lat2 = lat2
        self.lon2 = lon2
        self.output = output

    def _inputs(self) -> list[str]:
        return [self.lat1, self.lon1, self.lat2, self.lon2]

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        check_column_list(self._inputs(), columns, field="lat1, lon1, lat2, lon2")
        _check_output(self.output, columns)

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        return [*input_features, self.output]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Add the distance column; rows are neither removed nor reordered."""
        self.check_params()
        require_columns(batch, self._inputs(), self.rule_name)
        if self.output in batch.columns:
            raise DataContractError(f"{self.rule_name}: output column {self.output!r} already exists in the input")
        lat1, lat2 = (_coordinates(batch, c, self.rule_name, 90.0) for c in (self.lat1, self.lat2))
        lon1, lon2 = (_coordinates(batch, c, self.rule_name, 180.0) for c in (self.lon1, self.lon2))
        distance = pd.Series(haversine_km(lat1, lon1, lat2, lon2), index=batch.index, dtype="float64")
        return BatchResult(data=batch.assign(**{self.output: distance}))


def _polygon(points: Any, where: str) -> np.ndarray:
    array = np.asarray(points, dtype="float64")
    if array.ndim != 2 or array.shape[1] != 2 or len(array) < 3:
        raise ConfigurationError("regions", where, "a polygon must be a list of at least 3 [lon, lat] pairs")
    return array


def _bbox(box: Any, where: str) -> np.ndarray:
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise ConfigurationError("regions", where, "bbox must be [min_lon, min_lat, max_lon, max_lat]")
    west, south, east, north = (float(v) for v in box)
    return np.array([[west, south], [east, south], [east, north], [west, north]])


def parse_regions(spec: Any) -> list[tuple[str, list[np.ndarray]]]:
    """``[(name, [polygon, ...]), ...]`` from ``{"regions": [{"name", "polygons" | "bbox"}, ...]}``."""
    regions = spec.get("regions") if isinstance(spec, dict) else None
    if not isinstance(regions, list) or not regions:
        raise ConfigurationError("regions", "<content>", 'must hold a non-empty "regions" list')
    parsed = []
    for position, region in enumerate(regions):
        where = f"regions[{position}]"
        if not isinstance(region, dict) or not isinstance(region.get("name"), str):
            raise ConfigurationError("regions", where, 'each region needs a "name"')
        shapes = [_polygon(p, where) for p in region.get("polygons", [])]
        if "bbox" in region:
            shapes.append(_bbox(region["bbox"], where))
        if not shapes:
            raise ConfigurationError("regions", where, 'a region needs "polygons" or a "bbox"')
        parsed.append((region["name"], shapes))
    return parsed


def points_in_polygon(lon: np.ndarray, lat: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: whether each point lies inside ``polygon`` (NaN coordinates: False)."""
    inside = np.zeros(lon.shape, dtype=bool)
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1, strict=True):
        straddles = (ay > lat) != (by > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing_x = ax + (lat - ay) * (bx - ax) / (by - ay)
        inside ^= straddles & (lon < crossing_x)
    return inside


class CoordinatesToRegion(BatchTransformer):
    """Add ``output``: the name of the first region containing the row's point (``str``, null if none).

    Regions are read once, on the first batch, from ``regions``: a path to a JSON file or the same
    content as a dict, ``{"regions": [{"name": ..., "polygons": [[[lon, lat], ...], ...]}, ...]}``
    (a region may give ``"bbox": [min_lon, min_lat, max_lon, max_lat]`` instead of, or as well as,
    polygons). Regions are tried in file order. A null coordinate gives a null region.

    :param lat: latitude column.
    :param lon: longitude column.
    :param output: name of the new column.
    :param regions: path or dict; ``None`` means the shipped continents, :data:`DEFAULT_REGIONS`.
    """

    def __init__(self, lat: str, lon: str, output: str = "region", regions: str | Path | dict | None = None) -> None:
        self.lat = lat
        self.lon = lon
        self.output = output
        self.regions = regions

    def check_params(self, columns: Sequence[str] | None = None) -> None:
        """Raise ``ConfigurationError`` naming the bad field and value; ``columns`` is the input schema."""
        check_column_list([self.lat, self.lon], columns, field="lat, lon")
        _check_output(self.output, columns)
        if not isinstance(self.regions, str | Path | dict | None):
            raise ConfigurationError("regions", self.regions, "must be a path, a dict or None")
        self._shapes()

    def _shapes(self) -> list[tuple[str, list[np.ndarray]]]:
        cached = self.__dict__.get("_cache")
        if cached is not None and cached[0] is self.regions:
            return cached[1]
        source = DEFAULT_REGIONS if self.regions is None else self.regions
        if isinstance(source, dict):
            spec = source
        else:
            try:
                spec = json.loads(Path(source).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigurationError("regions", str(source), f"cannot be read as JSON: {exc}") from exc
        shapes = parse_regions(spec)
        self._cache = (self.regions, shapes)
        return shapes

    def get_feature_names_out(self, input_features: Sequence[str]) -> list[str]:
        return [*input_features, self.output]

    def transform(self, batch: pd.DataFrame) -> BatchResult:
        """Add the region column; rows are neither removed nor reordered."""
        require_columns(batch, [self.lat, self.lon], self.rule_name)
        if self.output in batch.columns:
            raise DataContractError(f"{self.rule_name}: output column {self.output!r} already exists in the input")
        lat = _coordinates(batch, self.lat, self.rule_name, 90.0)
        lon = _coordinates(batch, self.lon, self.rule_name, 180.0)
        names = np.full(len(batch), None, dtype=object)
        todo = ~(np.isnan(lat) | np.isnan(lon))
        for name, polygons in self._shapes():
            hit = np.zeros(len(batch), dtype=bool)
            for polygon in polygons:
                hit |= points_in_polygon(lon, lat, polygon)
            hit &= todo
            names[hit] = name
            todo &= ~hit
        region = pd.Series(names, index=batch.index, dtype="str")
        return BatchResult(data=batch.assign(**{self.output: region}))
