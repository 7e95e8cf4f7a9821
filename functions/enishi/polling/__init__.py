"""Polled cart adapters: a scheduled job per connected shop walks the cart's "updated since" filter with a cursor.

- ``contract``: what a polled cart module provides (``PolledCart``) and the connection settings (``CartConnection``).
- ``planner``: pure cursor arithmetic (begin / resume a sweep, advance after a page, finish).
- ``service``: the sweep and the id-only fetch, through ports (cart API, cursor store, claims, publisher, raw store).
- ``http``: the cart API client (pacing to the cart's rate limit, backoff on 429/5xx, token refresh on 401) and the
  OAuth token manager (refresh before expiry; rotated refresh tokens saved back to Secrets Manager).
- ``store``: DynamoDB / Secrets Manager / S3 adapters. ``handler``: the poller λ. ``webhook``: the id-only push λ.
"""
