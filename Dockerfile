# The project's Airflow image: the official Airflow 3.3.2 image (Python 3.11, like the venv) with the
# project's pinned requirements (requirements.txt, the same lock `make venv` installs: one source of truth)
# and its dags/, plugins/ and include/. Built by docker-compose.yaml for every Airflow service.
#
#   docker build -t dataframe-pipeline:local .
FROM apache/airflow:3.3.2-python3.11

ARG AIRFLOW_VERSION=3.3.2

# The lock pins every package, Airflow included; naming apache-airflow==${AIRFLOW_VERSION} as well makes pip
# refuse, instead of silently doing, anything that would change the image's Airflow. The official
# constraints file is not used: requirements.txt is the resolved lock for this Airflow version.
COPY --chown=airflow:root requirements.txt /opt/airflow/requirements.txt
USER airflow
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/airflow/requirements.txt

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root airflow_settings.yaml /opt/airflow/airflow_settings.yaml
# the shared volume of the demo database and local files is created from this folder (owned by airflow)
RUN mkdir -p /opt/airflow/data

# the DAG files import dataframe_pipeline (plugins/) and include.* like the local venv does
ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow

USER airflow
