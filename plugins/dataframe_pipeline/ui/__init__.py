"""The quality reports in the Airflow UI: a FastAPI app the plugin (``plugins/quality_reports.py``)
mounts on the api-server, serving each run's report to authenticated users."""
