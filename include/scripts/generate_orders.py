"""Generate the demo orders dataset: one dirty CSV file per day plus a MANIFEST of the injected dirt.

The output is deterministic (a fixed seed per day, no clock, no network), so running::

    python include/scripts/generate_orders.py --out include/data/orders

regenerates byte-identical files. ``--check`` compares instead of writing (exit status 1 on a
difference), which is what CI runs.

Each dirty row carries exactly one kind of dirt and duplicates copy clean rows, so the counts in
``MANIFEST.json`` reconcile exactly with what the clean step quarantines, drops or normalises.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

SEED = 20261001
FIRST_DAY = date(2026, 10, 1)
N_DAYS = 28
HEADER = (
    "order_id",
    "customer_id",
    "customer_email",
    "order_ts",
    "country",
    "channel",
    "product_category",
    "quantity",
    "unit_price",
    "amount",
    "returned",
)

# ISO alpha-2 code -> relative weight (skewed: a few big markets, a long tail).
COUNTRIES: dict[str, float] = {
    "US": 22, "DE": 12, "GB": 10, "FR": 8, "ES": 5, "IT": 5, "NL": 4, "CA": 4, "JP": 3, "PL": 3,
    "SE": 3, "AU": 2.5, "BE": 2, "AT": 2, "CH": 2, "BR": 2, "IN": 2, "DK": 1.5, "NO": 1.5, "IE": 1.5,
    "PT": 1.5, "MX": 1.5, "FI": 1, "CZ": 1, "KR": 1, "SG": 0.8, "GR": 0.8, "NZ": 0.7, "ZA": 0.6,
    "HU": 0.6,
}  # fmt: skip
CHANNELS: dict[str, float] = {"web": 0.45, "app": 0.25, "store": 0.15, "partner": 0.10, "phone": 0.05}
# Added to the category's return probability: partner and web orders come back more often.
CHANNEL_RETURN_SHIFT: dict[str, float] = {
    "web": 0.02,
    "app": 0.0,
    "store": -0.05,
    "partner": 0.05,
    "phone": -0.02,
}


@dataclass(frozen=True)
class Category:
    """A product category: share of orders, log-normal unit price, base return probability."""

    weight: float
    median_price: float
    price_sigma: float
    return_rate: float


CATEGORIES: dict[str, Category] = {
    "apparel": Category(0.20, 35.0, 0.6, 0.24),
    "electronics": Category(0.14, 120.0, 0.8, 0.10),
    "home": Category(0.13, 45.0, 0.8, 0.08),
    "books": Category(0.12, 14.0, 0.4, 0.03),
    "grocery": Category(0.12, 9.0, 0.5, 0.02),
    "beauty": Category(0.10, 22.0, 0.5, 0.07),
    "toys": Category(0.10, 25.0, 0.6, 0.09),
    "shoes": Category(0.09, 70.0, 0.5, 0.22),
}

FIRST_NAMES = (
    "anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "kim", "lena",
    "marco", "nina", "oscar", "paula", "quinn", "rosa", "sam", "tara", "umar", "vera", "will", "yuki",
    "zoe", "liam", "mia", "noah", "olga", "pablo",
)  # fmt: skip
LAST_NAMES = (
    "smith", "mueller", "garcia", "rossi", "dubois", "jansen", "nowak", "silva", "tanaka", "kim",
    "novak", "berg", "murphy", "lopez", "schmidt", "martin", "weber", "costa", "young", "khan",
)  # fmt: skip
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "web.de", "orange.fr")
N_CUSTOMERS = 2500

# Fraction of a day's orders getting each kind of row-level dirt (disjoint: one kind per row).
DIRT_RATES: dict[str, float] = {
    "missing_amount": 0.03,
    "missing_country": 0.01,
    "extreme_amount": 0.005,
    "unparseable_date": 0.005,
    "malformed_email": 0.015,
    "non_numeric_quantity": 0.003,
    "country_variant": 0.02,
    "channel_variant": 0.02,
}
DUPLICATE_RATE = 0.02
MALFORMED_KINDS = ("too_many_fields", "too_few_fields")
# How many files get malformed CSV lines, and how many each (inclusive range).
MALFORMED_FILES = 6
MALFORMED_PER_FILE = (2, 4)

BAD_DATES = ("2026-13-45 10:00:00", "not a date", "31/02/2026")
QUANTITY_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# Orders per hour of day (UTC): quiet nights, a lunch bump and an evening peak.
HOUR_WEIGHTS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 4.5, 4.5, 5, 5.5, 6, 7, 7.5, 6, 4, 2])


@dataclass(frozen=True)
class Customer:
    """A customer whose id, e-mail and country stay the same across days."""

    customer_id: str
    email: str
    country: str


@dataclass
class Order:
    """One order as the CSV fields it is written with (all strings, so dirt can replace any)."""

    fields: dict[str, str]
    dirt: str | None = None


@dataclass
class DayResult:
    """The lines of one day's file and what was injected into them."""

    lines: list[str]
    orders: int
    dirt: dict[str, int]
    malformed_lines: list[dict[str, object]] = field(default_factory=list)
    returned_ones: int = 0


def _probabilities(weights: dict[str, float] | list[float]) -> np.ndarray:
    values = np.array(list(weights.values()) if isinstance(weights, dict) else weights, dtype=float)
    return values / values.sum()


def make_customers(seed: int) -> list[Customer]:
    """Build the customer pool shared by every day.

    :param seed: the dataset seed.
    :return: ``N_CUSTOMERS`` customers with unique ids and e-mails.
    """
    rng = np.random.default_rng([seed, 0])
    codes = list(COUNTRIES)
    countries = rng.choice(codes, size=N_CUSTOMERS, p=_probabilities(COUNTRIES))
    customers = []
    for i in range(N_CUSTOMERS):
        first = FIRST_NAMES[rng.integers(len(FIRST_NAMES))]
        last = LAST_NAMES[rng.integers(len(LAST_NAMES))]
        domain = DOMAINS[rng.integers(len(DOMAINS))]
        # the running number keeps e-mails unique even when names collide
        email = f"{first}.{last}{i}@{domain}"
        customers.append(Customer(f"C{i + 1:05d}", email, str(countries[i])))
    return customers


def rows_for_day(day_index: int, rng: np.random.Generator) -> int:
    """Orders on a day: weekends are busier, Mondays quieter, plus noise; 250-335 so files stay small."""
    weekday = (FIRST_DAY + timedelta(days=day_index)).weekday()
    base = 300 + (25 if weekday >= 5 else 0) - (15 if weekday == 0 else 0)
    return int(np.clip(round(base + rng.normal(0, 12)), 250, 335))


def _timestamps(day: date, n: int, rng: np.random.Generator) -> list[str]:
    hours = rng.choice(24, size=n, p=_probabilities(list(HOUR_WEIGHTS)))
    seconds = np.sort(hours * 3600 + rng.integers(0, 3600, size=n))
    styles = rng.choice(3, size=n, p=[0.85, 0.10, 0.05])
    out = []
    for sec, style in zip(seconds, styles, strict=True):
        hh, rest = divmod(int(sec), 3600)
        mm, ss = divmod(rest, 60)
        sep, suffix = (" ", "") if style == 0 else ("T", "" if style == 1 else "Z")
        out.append(f"{day.isoformat()}{sep}{hh:02d}:{mm:02d}:{ss:02d}{suffix}")
    return out


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _customer_weights() -> np.ndarray:
    # a long tail: a few loyal customers order often, most order rarely
    return _probabilities(list(1.0 / (np.arange(N_CUSTOMERS) + 20.0) ** 0.8))


def make_orders(day: date, day_index: int, customers: list[Customer], rng: np.random.Generator) -> list[Order]:
    """Clean orders of one day, sorted by time, with ids ``O<yymmdd><seq>``.

    :param day: the calendar day.
    :param day_index: 0-based position of the day (only used for the row count).
    :param customers: the shared customer pool.
    :param rng: the day's random generator.
    """
    n = rows_for_day(day_index, rng)
    timestamps = _timestamps(day, n, rng)
    who = rng.choice(N_CUSTOMERS, size=n, p=_customer_weights())
    cats = rng.choice(list(CATEGORIES), size=n, p=_probabilities({k: c.weight for k, c in CATEGORIES.items()}))
    chans = rng.choice(list(CHANNELS), size=n, p=_probabilities(CHANNELS))
    qty = rng.choice(np.arange(1, 11), size=n, p=_probabilities(list(np.arange(1, 11) ** -1.7)))
    orders = []
    for i in range(n):
        cat = CATEGORIES[str(cats[i])]
        price = max(50, round(rng.lognormal(np.log(cat.median_price), cat.price_sigma) * 100))
        p_return = cat.return_rate + CHANNEL_RETURN_SHIFT[str(chans[i])] + 0.01 * (int(qty[i]) > 3)
        customer = customers[int(who[i])]
        fields = {
            "order_id": f"O{day:%y%m%d}{i + 1:04d}",
            "customer_id": customer.customer_id,
            "customer_email": customer.email,
            "order_ts": timestamps[i],
            "country": customer.country,
            "channel": str(chans[i]),
            "product_category": str(cats[i]),
            "quantity": str(int(qty[i])),
            "unit_price": _cents(price),
            "amount": _cents(int(qty[i]) * price),
            "returned": "1" if rng.random() < max(p_return, 0.0) else "0",
        }
        orders.append(Order(fields))
    return orders


def _bad_email(email: str, rng: np.random.Generator) -> str:
    local, domain = email.split("@")
    kind = int(rng.integers(4))
    if kind == 0:
        return local + domain  # no @
    if kind == 1:
        cut = len(local) // 2
        return f"{local[:cut]} {local[cut:]}@{domain}"  # a space inside
    if kind == 2:
        return f"{local}@@{domain}"
    return f"{local}@{domain.replace('.', '')}"  # no dot in the domain


def _case_variant(value: str, variants: tuple[str, ...], rng: np.random.Generator) -> str:
    # variants are format strings over the value; skip any that happen to give the canonical value
    choices = [v.format(low=value.lower(), up=value.upper(), cap=value.capitalize()) for v in variants]
    choices = [c for c in choices if c != value]
    return choices[int(rng.integers(len(choices)))]


def apply_dirt(order: Order, kind: str, rng: np.random.Generator) -> None:
    """Inject one kind of row-level dirt into ``order`` (in place).

    :param order: a clean order.
    :param kind: a key of ``DIRT_RATES``.
    :param rng: the day's random generator.
    """
    f = order.fields
    order.dirt = kind
    if kind == "missing_amount":
        f["amount"] = ""
    elif kind == "missing_country":
        f["country"] = ""
    elif kind == "extreme_amount":
        cents = round(float(f["amount"]) * 100 * rng.uniform(100, 1000))
        f["amount"] = _cents(cents)
    elif kind == "unparseable_date":
        f["order_ts"] = BAD_DATES[int(rng.integers(len(BAD_DATES)))]
    elif kind == "malformed_email":
        f["customer_email"] = _bad_email(f["customer_email"], rng)
    elif kind == "non_numeric_quantity":
        q = int(f["quantity"])
        f["quantity"] = QUANTITY_WORDS[q - 1] if rng.random() < 0.5 else f"{q}.5"
    elif kind == "country_variant":
        f["country"] = _case_variant(f["country"], ("  {low}", "{up} ", "{cap}", " {low} "), rng)
    elif kind == "channel_variant":
        f["channel"] = _case_variant(f["channel"], ("{up} ", " {cap}", "{up}", " {low}  "), rng)
    else:
        raise ValueError(f"unknown dirt kind {kind!r}")


def _malformed_line(order: Order, kind: str, rng: np.random.Generator) -> str:
    values = list(order.fields.values())
    if kind == "too_many_fields":
        if rng.random() < 0.5:
            values[HEADER.index("product_category")] += ",garden"  # an unquoted comma inside a value
        else:
            values.append("promo=FALL26")  # a stray trailing field
        return ",".join(values)
    # too few fields: the line was cut short, or a field went missing (the rest shifted left)
    if rng.random() < 0.5:
        return ",".join(values[: int(rng.integers(4, 9))])
    del values[HEADER.index("country")]
    return ",".join(values)


def _assign_dirt(orders: list[Order], rng: np.random.Generator) -> dict[str, int]:
    n = len(orders)
    counts = {kind: int(rng.binomial(n, rate)) for kind, rate in DIRT_RATES.items()}
    positions = rng.permutation(n)
    start = 0
    for kind, count in counts.items():
        for pos in sorted(positions[start : start + count]):
            apply_dirt(orders[int(pos)], kind, rng)
        start += count
    return counts


def _malformed_positions(orders: list[Order], n_malformed: int, rng: np.random.Generator) -> dict[int, str]:
    clean = [i for i, o in enumerate(orders) if o.dirt is None]
    picked = sorted(int(p) for p in rng.choice(clean, size=n_malformed, replace=False))
    kinds = [MALFORMED_KINDS[i % 2] for i in range(n_malformed)]
    return dict(zip(picked, kinds, strict=True))


def _layout(orders: list[Order], malformed: dict[int, str], rng: np.random.Generator) -> list[tuple]:
    """Sort keys and lines: each duplicate lands 1-5 lines after its original (original must be clean)."""
    n = len(orders)
    clean = [i for i, o in enumerate(orders) if o.dirt is None and i not in malformed]
    n_dup = int(rng.binomial(n, DUPLICATE_RATE))
    sources = sorted(int(p) for p in rng.choice(clean, size=n_dup, replace=False))
    keyed = []
    for i, order in enumerate(orders):
        line = _malformed_line(order, malformed[i], rng) if i in malformed else ",".join(order.fields.values())
        keyed.append(((i, 0, i), line, malformed.get(i)))
    for src in sources:
        target = min(src + int(rng.integers(1, 6)), n - 1)
        keyed.append(((target, 1, src), ",".join(orders[src].fields.values()), None))
    keyed.sort(key=lambda item: item[0])
    return keyed


def generate_day(day_index: int, customers: list[Customer], seed: int, n_malformed: int) -> DayResult:
    """Build one day's file content.

    :param day_index: 0-based day offset from ``FIRST_DAY``.
    :param customers: the shared customer pool.
    :param seed: the dataset seed.
    :param n_malformed: how many malformed CSV lines to put in this file.
    """
    rng = np.random.default_rng([seed, 1, day_index])
    day = FIRST_DAY + timedelta(days=day_index)
    orders = make_orders(day, day_index, customers, rng)
    dirt = _assign_dirt(orders, rng)
    malformed = _malformed_positions(orders, n_malformed, rng)
    keyed = _layout(orders, malformed, rng)
    lines = [",".join(HEADER)] + [line for _, line, _ in keyed]
    # header is line 1, so the k-th data line (0-based) is line k + 2
    bad = [{"line": k + 2, "kind": kind} for k, (_, _, kind) in enumerate(keyed) if kind]
    dirt["duplicate_rows"] = sum(1 for key, _, _ in keyed if key[1] == 1)
    for kind in MALFORMED_KINDS:
        dirt[f"malformed_{kind}"] = sum(1 for b in bad if b["kind"] == kind)
    returned = sum(1 for i, o in enumerate(orders) if i not in malformed and o.fields["returned"] == "1")
    return DayResult(lines, len(orders), dict(sorted(dirt.items())), bad, returned)


def malformed_plan(seed: int) -> dict[int, int]:
    """Which days get malformed CSV lines, and how many.

    :param seed: the dataset seed.
    :return: day index -> number of malformed lines (days not listed get none).
    """
    rng = np.random.default_rng([seed, 2])
    days = sorted(int(d) for d in rng.choice(N_DAYS, size=MALFORMED_FILES, replace=False))
    low, high = MALFORMED_PER_FILE
    return {d: int(rng.integers(low, high + 1)) for d in days}


def build(seed: int = SEED) -> dict[str, bytes]:
    """Every output file's name and bytes (CSV files and ``MANIFEST.json``), without writing anything.

    :param seed: the dataset seed.
    """
    customers = make_customers(seed)
    plan = malformed_plan(seed)
    files: dict[str, bytes] = {}
    entries = []
    for day_index in range(N_DAYS):
        result = generate_day(day_index, customers, seed, plan.get(day_index, 0))
        day = FIRST_DAY + timedelta(days=day_index)
        name = f"orders_{day.isoformat()}.csv"
        content = ("\n".join(result.lines) + "\n").encode("utf-8")
        files[name] = content
        entries.append(_manifest_entry(name, day, content, result))
    files["MANIFEST.json"] = _manifest(seed, entries)
    return files


def _manifest_entry(name: str, day: date, content: bytes, result: DayResult) -> dict[str, object]:
    rows = len(result.lines) - 1
    n_bad = len(result.malformed_lines)
    return {
        "file": name,
        "date": day.isoformat(),
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "rows_written": rows,
        "well_formed_rows": rows - n_bad,
        "unique_orders": result.orders - n_bad,
        "returned_ones": result.returned_ones,
        "dirt": result.dirt,
        "malformed_lines": result.malformed_lines,
    }


def _manifest(seed: int, entries: list[dict]) -> bytes:
    totals: dict[str, int] = {
        "rows_written": 0,
        "well_formed_rows": 0,
        "unique_orders": 0,
        "returned_ones": 0,
    }
    dirt_totals: dict[str, int] = {}
    for entry in entries:
        for key in totals:
            totals[key] += entry[key]
        for kind, count in entry["dirt"].items():
            dirt_totals[kind] = dirt_totals.get(kind, 0) + count
    manifest = {
        "generator": "include/scripts/generate_orders.py",
        "seed": seed,
        "first_day": FIRST_DAY.isoformat(),
        "days": N_DAYS,
        "columns": list(HEADER),
        "dirt_rates": {**DIRT_RATES, "duplicate_rows": DUPLICATE_RATE},
        "totals": {**totals, "dirt": dict(sorted(dirt_totals.items()))},
        "files": entries,
    }
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def write(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` under ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_bytes(content)


def check(out: Path, files: dict[str, bytes]) -> list[str]:
    """Names of the files under ``out`` that are missing or differ from ``files``."""
    return [
        name for name, content in files.items() if not (out / name).is_file() or (out / name).read_bytes() != content
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("include/data/orders"), help="output directory")
    parser.add_argument("--seed", type=int, default=SEED, help="dataset seed (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    args = parser.parse_args(argv)
    files = build(args.seed)
    if args.check:
        differ = check(args.out, files)
        for name in differ:
            print(f"differs: {args.out / name}", file=sys.stderr)
        return 1 if differ else 0
    write(args.out, files)
    total = sum(len(c) for c in files.values())
    print(f"wrote {len(files)} files ({total} bytes) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
