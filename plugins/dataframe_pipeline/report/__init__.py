"""The quality report of a run: JSON and a self-contained HTML page with pictures.

Pure logic (no Airflow import): :mod:`.build` gathers the sections from a run's step results and their
datasets, :mod:`.drift` compares every column with the previous published version, :mod:`.charts`
draws the pictures (matplotlib, Agg), :mod:`.html` renders the page. The operator in :mod:`.operators`
only finds the inputs in Airflow's world and writes the two files.
"""
