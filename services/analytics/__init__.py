"""Analyst layer: filling ClickHouse without Kafka, documented queries, the HTML report."""
