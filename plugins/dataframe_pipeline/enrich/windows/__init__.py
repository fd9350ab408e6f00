"""Windowed aggregates over a stream's micro-batches: event time, watermark and lateness
(``aggregate.py``), threshold alerts once per breach (``breaches.py``), the state kept between runs
(``state.py``), the step's sink and late-data output (``step.py``) and the Airflow operator
(``operators.py``, the only module importing Airflow)."""
