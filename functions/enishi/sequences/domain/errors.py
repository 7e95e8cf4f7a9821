"""Errors the step λ raises to Step Functions. The class name is the ``Error`` a state machine Retry matches."""


class RetryableSendError(Exception):
    """Nothing was sent (or LINE, whose retry key makes a resend safe): the state machine retries with backoff.

    Raised for SES throttling, LINE 5xx / timeout / rate limit, and a profile the consumer has not written yet.
    """
