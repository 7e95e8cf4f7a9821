"""Webhook intake: verify → adapt → dedupe → publish. ``handler`` is the Lambda; ``logic`` is the pure flow."""
