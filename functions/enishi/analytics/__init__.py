"""Lifecycle analytics in batch: a DynamoDB export to S3, queried by Athena (DuckDB locally), into one result
document (``result.py``) and per-customer RFM segments. See docs/analytics.md."""
