-- Run once by the postgres image on a new data volume (/docker-entrypoint-initdb.d): the warehouse of
-- orders_star_schema (connection warehouse_db) is a database of its own beside Airflow's metadata.
CREATE DATABASE warehouse OWNER airflow;
