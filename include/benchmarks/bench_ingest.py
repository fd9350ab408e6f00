"""Ingest benchmark: each connector reads N rows (default 1,000,000) into a committed dataset, as the
ingest task does (connector -> DatasetWriter + quarantine), without the scheduler. The baseline is
what a plain pandas script does with the same source: load it whole, write Parquet.

Every case runs in its own process, so peak RSS (ru_maxrss) is that case's alone. PostgreSQL and
MariaDB cases run when the servers of the test tier are reachable on 127.0.0.1 (else they are
listed as skipped).

    python include/benchmarks/bench_ingest.py [--rows 1000000] [--cases csv,jsonl,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT)]

from include.benchmarks.measure import peak_rss_mb  # noqa: E402 - needs the path above

WORK = PROJECT / ".bench"
CASES = ("csv", "jsonl", "json", "parquet", "sqlite", "postgres", "mariadb", "http")
SERVER_URLS = {
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}
HTTP_PAGE = 10_000


# -- data ---------------------------------------------------------------------------------------
def make_frame(rows: int):
    """Orders-like rows: ids, a timestamp, numbers, categories, short text, some nulls."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    amount = np.round(rng.lognormal(3.5, 0.8, rows), 2)
    amount[rng.random(rows) < 0.03] = np.nan
    return pd.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 86_400 * 300, rows), unit="s"),
            "country": rng.choice([f"C{i:02d}" for i in range(30)], rows),
            "channel": rng.choice(["web", "app", "store", "phone", "partner"], rows),
            "quantity": rng.integers(1, 10, rows),
            "amount": amount,
            "note": rng.choice(["fast delivery", "gift", "", "call first", "leave at door"], rows),
        }
    )


def prepare(rows: int, case: str) -> str:
    """Write the source of ``case`` once per row count; return its location."""
    WORK.mkdir(exist_ok=True)
    stem = WORK / f"orders_{rows}"
    if case in ("csv", "jsonl", "json", "parquet"):
        path = Path(f"{stem}.{case}")
        if not path.exists():
            df = make_frame(rows)
            tmp = path.with_suffix(".tmp")
            if case == "csv":
                df.to_csv(tmp, index=False)
            elif case == "jsonl":
                df.to_json(tmp, orient="records", lines=True, date_format="iso")
            elif case == "json":
                df.to_json(tmp, orient="records", date_format="iso")
            else:
                df.to_parquet(tmp, row_group_size=100_000)
            tmp.rename(path)
        return str(path)
    if case in ("sqlite", "postgres", "mariadb"):
        url = f"sqlite:///{stem}.db" if case == "sqlite" else SERVER_URLS[case]
        _load_table(url, rows)
        return url
    return ""


def _load_table(url: str, rows: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    table = f"bench_orders_{rows}"
    with engine.connect() as conn:
        if (
            sa.inspect(conn).has_table(table)
            and conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == rows
        ):
            return
    df = make_frame(rows)
    df.to_sql(table, engine, if_exists="replace", index=False, chunksize=50_000)
    engine.dispose()


def server_reachable(case: str) -> bool:
    import sqlalchemy as sa

    try:
        with sa.create_engine(SERVER_URLS[case]).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


# -- the HTTP source: a paginated API serving the generated rows -------------------------------------
def serve_http(rows: int) -> tuple[str, threading.Thread]:
    """Pre-render every page (the server's own JSON work is not what is measured), serve on loopback."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    df = make_frame(rows)
    df["ts"] = df["ts"].astype(str)
    pages = []
    for start in range(0, rows, HTTP_PAGE):
        records = df.iloc[start : start + HTTP_PAGE].to_dict(orient="records")
        nxt = start + HTTP_PAGE if start + HTTP_PAGE < rows else None
        pages.append(json.dumps({"data": records, "next_cursor": nxt}, default=str).encode())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            cursor = int(self.path.split("cursor=")[1]) if "cursor=" in self.path else 0
            body = pages[cursor // HTTP_PAGE]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", thread


# -- one measured run (in a child process) --------------------------------------------------------
def project_batches(case: str, location: str, rows: int, batch_rows: int):
    if case in ("csv", "jsonl", "json", "parquet"):
        from dataframe_pipeline.ingest.files.format import FileFormat, read_source

        fh = open(location, "rb")  # noqa: SIM115 -- closed when the generator is exhausted
        yield from read_source(fh, location, FileFormat(batch_rows=batch_rows))
        fh.close()
    elif case in ("sqlite", "postgres", "mariadb"):
        from dataframe_pipeline.ingest.sql.reader import SqlReader
        from dataframe_pipeline.ingest.sql.source import SqlSource

        with SqlReader(SqlSource(url=location, table=f"bench_orders_{rows}", batch_rows=batch_rows)) as reader:
            yield from reader.batches()
    else:
        from dataframe_pipeline.ingest.http.pagination import CursorPagination
        from dataframe_pipeline.ingest.http.reader import HttpReader
        from dataframe_pipeline.ingest.http.source import HttpSource

        source = HttpSource(
            base_url=location,
            endpoint="/orders",
            pagination=CursorPagination(cursor_path="next_cursor", cursor_param="cursor"),
            records_path="data",
            max_pages=rows // HTTP_PAGE + 2,
            batch_rows=batch_rows,
        )
        yield from HttpReader(source).batches()


def run_project(case: str, location: str, rows: int, batch_rows: int, out: Path) -> int:
    """The ingest step's own lifecycle (StepRunner over one source part), as a task runs it."""
    from datetime import UTC, datetime

    from dataframe_pipeline.core.dataset import Location
    from dataframe_pipeline.core.partition import RunFacts, Schedule, resolve_partition
    from dataframe_pipeline.core.runner import SourceInput, SourcePart, StepRunner

    partition = resolve_partition(RunFacts("bench", logical_date=datetime(2026, 1, 1, tzinfo=UTC)), Schedule())
    part = SourcePart(case, lambda: project_batches(case, location, rows, batch_rows))
    runner = StepRunner("ingest", Location.local(str(out)), partition, SourceInput([part]), batch_rows=batch_rows)
    return runner.run().accounting.rows_out


def run_baseline(case: str, location: str, rows: int, out: Path) -> int:
    import pandas as pd

    if case == "csv":
        df = pd.read_csv(location)
    elif case == "jsonl":
        df = pd.read_json(location, lines=True)
    elif case == "json":
        df = pd.read_json(location)
    elif case == "parquet":
        df = pd.read_parquet(location)
    elif case in ("sqlite", "postgres", "mariadb"):
        import sqlalchemy as sa

        df = pd.read_sql_table(f"bench_orders_{rows}", sa.create_engine(location))
    else:
        import httpx

        records, cursor = [], 0
        with httpx.Client(base_url=location) as client:
            while cursor is not None:
                body = client.get("/orders", params={"cursor": cursor}).json()
                records.extend(body["data"])
                cursor = body["next_cursor"]
        df = pd.json_normalize(records)
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "baseline.parquet")
    return len(df)


def child(args: argparse.Namespace) -> int:
    out = WORK / "out" / f"{args.case}-{args.side}"
    start = time.perf_counter()
    if args.side == "project":
        n = run_project(args.case, args.location, args.rows, args.batch_rows, out)
    else:
        n = run_baseline(args.case, args.location, args.rows, out)
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    print(json.dumps({"rows": n, "seconds": seconds, "peak_mb": peak_mb}))
    return 0


def measure(case: str, side: str, location: str, rows: int, batch_rows: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--case", case, "--side", side, "--location", location]
    cmd += ["--rows", str(rows), "--batch-rows", str(batch_rows)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--location", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    print(f"ingest benchmark: {args.rows:,} rows per case, batches of {args.batch_rows:,}, {os.cpu_count()} cores")
    header = (
        f"{'case':<9}{'rows':>10}{'project s':>11}{'rows/s':>11}{'peak MB':>9}  |"
        f"{'pandas s':>9}{'peak MB':>9}{'speed x':>9}{'memory x':>9}"
    )
    print(header)
    print("-" * len(header))
    for case in args.cases.split(","):
        if case in SERVER_URLS and not server_reachable(case):
            print(f"{case:<9} skipped: no server on 127.0.0.1")
            continue
        try:
            location = serve_http(args.rows)[0] if case == "http" else prepare(args.rows, case)
        except Exception as err:  # report and go on with the other cases
            print(f"{case:<9} could not prepare the source: {type(err).__name__}: {str(err)[:200]}")
            continue
        ours = measure(case, "project", location, args.rows, args.batch_rows)
        base = measure(case, "baseline", location, args.rows, args.batch_rows)
        if "error" in ours or "error" in base:
            print(f"{case:<9} error: {ours.get('error') or base.get('error')}")
            continue
        print(
            f"{case:<9}{ours['rows']:>10,}{ours['seconds']:>11.2f}{ours['rows'] / ours['seconds']:>11,.0f}"
            f"{ours['peak_mb']:>9.0f}  |{base['seconds']:>9.2f}{base['peak_mb']:>9.0f}"
            f"{base['seconds'] / ours['seconds']:>9.2f}{base['peak_mb'] / ours['peak_mb']:>9.2f}"
        )
    print("speed x = pandas seconds / project seconds; memory x = pandas peak / project peak (higher is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
