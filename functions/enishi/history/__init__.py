"""History import: a shop's past customers and orders, loaded without starting any sequence for the past.

``sources``: streaming parsers (a CSV pair in Japanese cart export conventions; a Shopify Admin GraphQL Bulk
Operations JSONL export) → ``ImportedCustomer`` / ``ImportedOrder`` records. ``build``: pure (history, stored
profile) → profile, order items, consent records. ``load``: the adapter (DynamoDB, paced, idempotent).
"""
