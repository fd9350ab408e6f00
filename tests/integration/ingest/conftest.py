"""Fixtures of the ingest integration tests: a Kafka-protocol broker (Tansu) on loopback."""

from __future__ import annotations

from tests.kafka_broker import kafka_broker

__all__ = ["kafka_broker"]
