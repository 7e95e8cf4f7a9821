"""DynamoDB keys of the single table, one helper per entity. Never build a key inline elsewhere.

| item                    | pk                                   | sk                         |
|-------------------------|--------------------------------------|----------------------------|
| customer profile        | SHOP#{shop}#CUST#{customer_id}       | PROFILE                    |
| message record          | SHOP#{shop}#CUST#{customer_id}       | MSG#{message_key}          |
| consent ledger record   | SHOP#{shop}#CUST#{customer_id}       | CONSENT#{at}#{channel}#{d} |
| order                   | SHOP#{shop}#ORDER#{order_id}         | ORDER                      |
| fulfillment             | SHOP#{shop}#ORDER#{order_id}         | FULFILLMENT#{fulfillment}  |
| checkout / cart         | SHOP#{shop}#CHECKOUT#{token}         | CHECKOUT                   |
| email → customer lookup | SHOP#{shop}#EMAIL#{email_hash}       | LOOKUP                     |
| LINE user → customer    | SHOP#{shop}#LINE#{line_user_id}      | LOOKUP                     |
| intake dedupe marker    | SHOP#{shop}#WEBHOOK#{source}#{id}    | DEDUPE      (TTL)          |
| polled-cart cursor      | CARTCONN#{connection}#CURSOR#{stream}| CURSOR                     |
| LINE monthly quota flag | SHOP#{shop}#LINEQUOTA#{yyyy-mm}      | QUOTA       (TTL)          |
| LINE account-link nonce | SHOP#{shop}#LINENONCE#{nonce}        | NONCE       (TTL 10 min)   |
| parked event            | SHOP#{shop}#PARKED#{missing}         | EVENT#{event_id} (TTL)     |
| win-back job cursor     | SHOP#{shop}#JOB#winback              | CURSOR                     |
| campaign run            | SHOP#{shop}#CAMPAIGN#{campaign_id}   | RUN                        |

GSI ``orders_by_day`` (keys only) on order items: gsi1pk = SHOP#{shop}#ORDERDAY#{yyyy-mm-dd JST}, gsi1sk = ORDER#{id}.
The daily win-back job reads the orders placed exactly N days ago and keeps those that are still the customer's
last order, so it costs in proportion to that day's orders, never to all customers.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, date, datetime

PROFILE_SK = "PROFILE"
ORDER_SK = "ORDER"
CHECKOUT_SK = "CHECKOUT"
LOOKUP_SK = "LOOKUP"
DEDUPE_SK = "DEDUPE"
QUOTA_SK = "QUOTA"
MSG_SK_PREFIX = "MSG#"
FULFILLMENT_SK_PREFIX = "FULFILLMENT#"


def normalize_email(email: str) -> str:
    """NFKC (full-width → ASCII, common in Japanese forms), trim, lower-case."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(normalize_email(email).encode("utf-8")).hexdigest()


def guest_customer_id(email: str) -> str:
    """Customer id of a guest (no cart customer id): derived from the normalized email, stable across events."""
    return "guest-" + email_hash(email)[:32]


def _shop(shop: str) -> str:
    return f"SHOP#{shop}"


def shop_pk_prefix(shop: str) -> str:
    """The start of every partition key of one shop's items (a shop redaction deletes everything under it)."""
    return f"{_shop(shop)}#"


def customer_pk(shop: str, customer_id: str) -> str:
    return f"{_shop(shop)}#CUST#{customer_id}"


def profile_key(shop: str, customer_id: str) -> dict[str, str]:
    return {"pk": customer_pk(shop, customer_id), "sk": PROFILE_SK}


def message_key(shop: str, customer_id: str, message_key_: str) -> dict[str, str]:
    return {"pk": customer_pk(shop, customer_id), "sk": f"{MSG_SK_PREFIX}{message_key_}"}


CONSENT_SK_PREFIX = "CONSENT#"


def consent_ledger_key(
    shop: str, customer_id: str, collected_at: str, channel: str, digest: str
) -> dict[str, str]:
    """One consent record of a customer (append-only, written once by a conditional put): beside the profile, in
    time order (``collected_at`` is ISO 8601 UTC with ``Z``), so a Query on ``CONSENT_SK_PREFIX`` reads the history.
    ``digest`` is ``enishi.consent.digest`` of the record."""
    return {
        "pk": customer_pk(shop, customer_id),
        "sk": f"{CONSENT_SK_PREFIX}{collected_at}#{channel}#{digest}",
    }


def order_pk(shop: str, order_id: str) -> str:
    return f"{_shop(shop)}#ORDER#{order_id}"


def order_key(shop: str, order_id: str) -> dict[str, str]:
    return {"pk": order_pk(shop, order_id), "sk": ORDER_SK}


def fulfillment_key(shop: str, order_id: str, fulfillment_id: str) -> dict[str, str]:
    return {"pk": order_pk(shop, order_id), "sk": f"{FULFILLMENT_SK_PREFIX}{fulfillment_id}"}


def checkout_key(shop: str, token: str) -> dict[str, str]:
    return {"pk": f"{_shop(shop)}#CHECKOUT#{token}", "sk": CHECKOUT_SK}


def email_lookup_key(shop: str, email_hash_: str) -> dict[str, str]:
    return {"pk": f"{_shop(shop)}#EMAIL#{email_hash_}", "sk": LOOKUP_SK}


def line_lookup_key(shop: str, line_user_id: str) -> dict[str, str]:
    return {"pk": f"{_shop(shop)}#LINE#{line_user_id}", "sk": LOOKUP_SK}


def dedupe_key(shop: str, source: str, delivery_id: str) -> dict[str, str]:
    return {"pk": f"{_shop(shop)}#WEBHOOK#{source}#{delivery_id}", "sk": DEDUPE_SK}


CURSOR_SK = "CURSOR"


def poll_cursor_key(connection_id: str, stream: str) -> dict[str, str]:
    """Where a polled cart connection keeps its cursor for one stream (orders, customers, ...). Events published
    by the poller are marked once published with ``dedupe_key(shop, cart, event_id)``."""
    return {"pk": f"CARTCONN#{connection_id}#CURSOR#{stream}", "sk": CURSOR_SK}


def poll_cursor_pk_prefix(connection_id: str) -> str:
    """The start of every cursor key of one polled cart connection (a shop redaction deletes them)."""
    return f"CARTCONN#{connection_id}#"


def line_quota_key(shop: str, month: str) -> dict[str, str]:
    return {"pk": f"{_shop(shop)}#LINEQUOTA#{month}", "sk": QUOTA_SK}


PARKED_SK_PREFIX = "EVENT#"


def parked_for_order_pk(shop: str, order_id: str) -> str:
    """Events waiting for an order the profile consumer has not recorded yet (a fulfillment before its order)."""
    return f"{_shop(shop)}#PARKED#ORDER#{order_id}"


def parked_for_order_key(shop: str, order_id: str, event_id: str) -> dict[str, str]:
    return {"pk": parked_for_order_pk(shop, order_id), "sk": f"{PARKED_SK_PREFIX}{event_id}"}


CURSOR_SK = "CURSOR"


def winback_cursor_key(shop: str) -> dict[str, str]:
    """The last JST day the daily win-back job processed completely (it catches up from the day after)."""
    return {"pk": f"{_shop(shop)}#JOB#winback", "sk": CURSOR_SK}


CAMPAIGN_RUN_SK = "RUN"
CAMPAIGN_STEP_ID = "send"
CAMPAIGN_SEQUENCE_PREFIX = "campaign-"


def campaign_run_key(shop: str, campaign_id: str) -> dict[str, str]:
    """A campaign's run: its execution, status (running | cancelled) — the flag every send batch reads first."""
    return {"pk": f"{_shop(shop)}#CAMPAIGN#{campaign_id}", "sk": CAMPAIGN_RUN_SK}


def campaign_sequence(campaign_id: str) -> str:
    """The name a campaign's messages carry where a sequence's carry theirs (message key, tags, the report)."""
    return f"{CAMPAIGN_SEQUENCE_PREFIX}{campaign_id}"


def campaign_of(sequence: str) -> str | None:
    """The campaign id a message's sequence names (``campaign_sequence``'s inverse); None for a sequence."""
    return (
        sequence[len(CAMPAIGN_SEQUENCE_PREFIX) :] if sequence.startswith(CAMPAIGN_SEQUENCE_PREFIX) else None
    )


def campaign_message_key(shop: str, customer_id: str, campaign_id: str) -> str:
    """One message per (customer, campaign), however often the campaign's run is retried or its batches re-driven."""
    return sequence_message_key(
        shop, customer_id, campaign_sequence(campaign_id), CAMPAIGN_STEP_ID, campaign_id
    )


def campaign_recipients_key(campaign_id: str, run_tag: str) -> str:
    """The recipient list of one run in the analytics bucket (one JSON line per recipient)."""
    return f"campaigns/{campaign_id}/{run_tag}/recipients.jsonl"


# analytics bucket layout (functions/enishi/analytics/result.py): one run's files under its ``as_of``
ANALYTICS_EXPORTS_PREFIX = "exports/"
ANALYTICS_QUERIES_PREFIX = "athena-results/"
ANALYTICS_LATEST_KEY = "results/latest.json"  # the newest result document


def analytics_as_of_tag(as_of: datetime) -> str:
    """``YYYY-MM-DDTHHMMSSZ`` (UTC): the run's folder name under results/ and segments/."""
    return as_of.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")


def analytics_result_key(as_of: datetime) -> str:
    return f"results/{analytics_as_of_tag(as_of)}/result.json"


def analytics_segments_key(as_of: datetime, name: str) -> str:
    """Per-customer RFM rows of one run (JSON lines), for campaigns to select on."""
    return f"segments/{analytics_as_of_tag(as_of)}/{name}"


def orders_by_day_pk(shop: str, day: date) -> str:
    return f"{_shop(shop)}#ORDERDAY#{day.isoformat()}"


ORDERS_BY_DAY_SK_PREFIX = "ORDER#"


def orders_by_day_sk(order_id: str) -> str:
    return f"{ORDERS_BY_DAY_SK_PREFIX}{order_id}"


def order_id_from_orders_by_day_sk(sk: str) -> str:
    return sk.removeprefix(ORDERS_BY_DAY_SK_PREFIX)


def sequence_message_key(shop: str, customer_id: str, sequence: str, step: str, trigger_id: str) -> str:
    """Deterministic idempotency key of one message: the same (customer, sequence, step, trigger) is sent once."""
    raw = f"{shop}|{customer_id}|{sequence}|{step}|{trigger_id}"
    return f"{sequence}.{step}.{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def execution_name(sequence: str, shop: str, customer_id: str, trigger_id: str) -> str:
    """Step Functions execution name (≤ 80 chars, unique per state machine for 90 days): the start's idempotency key."""
    raw = f"{shop}|{customer_id}|{trigger_id}"
    return f"{sequence}-{hashlib.sha256(raw.encode()).hexdigest()[:48]}"


PRIVACY_SK_PREFIX = "REQ#"


def privacy_requests_pk(shop: str) -> str:
    """All privacy webhooks of a shop (customers/redact, customers/data_request, shop/redact), for the job that acts."""
    return f"{_shop(shop)}#PRIVACY"


def privacy_request_key(shop: str, event_id: str) -> dict[str, str]:
    return {"pk": privacy_requests_pk(shop), "sk": f"{PRIVACY_SK_PREFIX}{event_id}"}


NONCE_SK = "NONCE"


def line_link_nonce_key(shop: str, nonce: str) -> dict[str, str]:
    """Single-use LINE account-link nonce → customer id (issued by the shop's login page, consumed by the webhook)."""
    return {"pk": f"{_shop(shop)}#LINENONCE#{nonce}", "sk": NONCE_SK}


WORDING_SK = "WORDING"


def consent_wording_key(shop: str, wording_ref: str) -> dict[str, str]:
    """A consent wording shown to customers, stored once per distinct text; consents reference it by hash."""
    return {"pk": f"{_shop(shop)}#WORDING#{wording_ref}", "sk": WORDING_SK}
