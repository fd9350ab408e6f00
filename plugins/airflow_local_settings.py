"""Process-wide settings Airflow imports at start-up in every component and task process (``settings.initialize``
imports ``airflow_local_settings`` from the plugins folder, which it puts on ``sys.path``; astro layout).

Only one thing here: Airflow 3.3 compiles ``.airflowignore`` glob patterns with pathspec's
``GitWildMatchPattern``, deprecated since pathspec 1.0, so every process that walks the plugins folder
(plugins/.airflowignore) - every task - logged the deprecation. Not ours to fix and nothing a user can act
on; the filter matches that one message only (Airflow's own deprecation warnings still show).
"""

from __future__ import annotations

import warnings

warnings.filterwarnings(
    "ignore", message=r"GitWildMatchPattern \('gitwildmatch'\) is deprecated", category=DeprecationWarning
)
