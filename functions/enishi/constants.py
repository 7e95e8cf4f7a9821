"""Names shared by CDK, handlers, the local stack and tests. Change a name here, nowhere else."""

from __future__ import annotations

from typing import Final

# ---- environment variables (set by infra/constructs/function.py, read by each handler's settings model)
ENV_TABLE_NAME = "ENISHI_TABLE_NAME"
ENV_IDEMPOTENCY_TABLE_NAME = "ENISHI_IDEMPOTENCY_TABLE_NAME"
ENV_EVENT_BUS_NAME = "ENISHI_EVENT_BUS_NAME"
ENV_RAW_BUCKET_NAME = "ENISHI_RAW_BUCKET_NAME"  # unprocessable-but-authentic payloads, kept for replay
ENV_ANALYTICS_BUCKET_NAME = (
    "ENISHI_ANALYTICS_BUCKET_NAME"  # table exports, query results, result.json, segments
)
ENV_ANALYTICS_WORKGROUP = "ENISHI_ANALYTICS_WORKGROUP"  # Athena workgroup (bytes-scanned limit per query)
ENV_ANALYTICS_DATABASE = "ENISHI_ANALYTICS_DATABASE"  # Glue database of the export tables
ENV_ANALYTICS_SOURCE = "ENISHI_ANALYTICS_SOURCE"  # result.json "source": which engine answers the Athena API
ENV_SHOPIFY_SECRET_ARN = "ENISHI_SHOPIFY_SECRET_ARN"
ENV_GENERIC_SECRET_ARN = "ENISHI_GENERIC_SECRET_ARN"
ENV_CART_CONNECTION = (
    "ENISHI_CART_CONNECTION"  # JSON of one polling.contract.CartConnection (poller, cart webhook)
)
ENV_CART_SECRET_ARN = "ENISHI_CART_SECRET_ARN"  # JSON polling.http.OAuthSecret of that connection
ENV_CART_FETCH_QUEUE_URL = "ENISHI_CART_FETCH_QUEUE_URL"  # id-only notifications waiting for their fetch
ENV_LINE_LINK_SECRET_ARN = (
    "ENISHI_LINE_LINK_SECRET_ARN"  # HMAC key the shop's backend signs /line/link requests with
)
ENV_LINE_SECRET_ARN = "ENISHI_LINE_SECRET_ARN"  # JSON: {"channel_secret": ..., "channel_access_token": ...}
ENV_UNSUBSCRIBE_SECRET_ARN = "ENISHI_UNSUBSCRIBE_SECRET_ARN"
ENV_STATE_MACHINE_ARNS = "ENISHI_STATE_MACHINE_ARNS"  # JSON: {"welcome": arn, ...}
ENV_CAMPAIGN_STATE_MACHINE_ARN = (
    "ENISHI_CAMPAIGN_STATE_MACHINE_ARN"  # the Campaign machine (the schedule tick)
)
ENV_MAX_RECEIVE_COUNT = (
    "ENISHI_MAX_RECEIVE_COUNT"  # the consumer queue's redrive maxReceiveCount (parked backoff)
)
ENV_SES_CONFIGURATION_SET = "ENISHI_SES_CONFIGURATION_SET"
ENV_SES_FROM_ADDRESS = "ENISHI_SES_FROM_ADDRESS"
ENV_PUBLIC_BASE_URL = "ENISHI_PUBLIC_BASE_URL"  # https://…/ of the API, for unsubscribe links
ENV_LINE_API_BASE_URL = (
    "ENISHI_LINE_API_BASE_URL"  # default LINE_API_BASE_URL; the local stack points it at its fake
)
LINE_API_BASE_URL = "https://api.line.me"
ENV_SHOP_CONFIG_DIR = (
    "ENISHI_SHOP_CONFIG_DIR"  # folder holding shop.json/sequences.json/templates (default: bundled)
)
ENV_RAW_TTL_DAYS = "ENISHI_RAW_TTL_DAYS"
ENV_PRIVACY_BUCKET_NAME = "ENISHI_PRIVACY_BUCKET_NAME"  # data-request exports (KMS, private, expiring)
# the operator is told where an export is (no personal data)
ENV_PRIVACY_TOPIC_ARN = "ENISHI_PRIVACY_TOPIC_ARN"
ENV_PRIVACY_QUEUE_URL = "ENISHI_PRIVACY_QUEUE_URL"  # the privacy job's own queue: a slice sends the next one
# JSON {shop id: [polled cart connection ids]}: the cursors a shop redaction deletes
ENV_PRIVACY_CART_CONNECTIONS = "ENISHI_PRIVACY_CART_CONNECTIONS"
ENV_POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

METRICS_NAMESPACE = "enishi"

# ---- EventBridge
EVENT_BUS_NAME = "enishi"
EVENT_SOURCE_INTAKE = "enishi.intake"  # canonical events from carts
EVENT_SOURCE_PROFILE = "enishi.profile"  # events derived after a profile changed (e.g. order.recorded)
EVENT_SOURCE_MESSAGING = "enishi.messaging"  # message outcomes

# canonical event types (EventBridge detail-type == CanonicalEvent.type); Final: each is its own Literal type,
# the default of the event model's ``type`` field
CUSTOMER_UPSERTED: Final = "customer.upserted"
CHECKOUT_UPDATED: Final = "checkout.updated"
ORDER_PLACED: Final = "order.placed"
ORDER_CANCELLED: Final = "order.cancelled"
FULFILLMENT_UPDATED: Final = "fulfillment.updated"
CONSENT_CHANGED: Final = "consent.changed"
CUSTOMER_REDACT_REQUESTED: Final = "customer.redact_requested"
CUSTOMER_DATA_REQUESTED: Final = "customer.data_requested"
SHOP_REDACT_REQUESTED: Final = "shop.redact_requested"
LINE_IDENTITY_CHANGED: Final = (
    "line.identity_changed"  # follow / unfollow / account link (from the LINE webhook)
)
SUPPRESSION_CHANGED: Final = "suppression.changed"  # bounce / complaint (from SES feedback)

# derived by the profile consumer after it applied an event
ORDER_RECORDED: Final = "order.recorded"

CANONICAL_EVENT_TYPES = (
    CUSTOMER_UPSERTED,
    CHECKOUT_UPDATED,
    ORDER_PLACED,
    ORDER_CANCELLED,
    FULFILLMENT_UPDATED,
    CONSENT_CHANGED,
    CUSTOMER_REDACT_REQUESTED,
    CUSTOMER_DATA_REQUESTED,
    SHOP_REDACT_REQUESTED,
    LINE_IDENTITY_CHANGED,
    SUPPRESSION_CHANGED,
)

# ---- DynamoDB single table
ATTR_PK = "pk"
ATTR_SK = "sk"
ATTR_TTL = "expires_at"  # epoch seconds
GSI_ORDERS_BY_DAY = (
    "orders_by_day"  # order items: gsi1pk = SHOP#{shop}#ORDERDAY#{yyyy-mm-dd}, gsi1sk = ORDER#{id}
)
ATTR_GSI1_PK = "gsi1pk"
ATTR_GSI1_SK = "gsi1sk"

# ---- Sequences
SEQUENCE_WELCOME = "welcome"
SEQUENCE_SHIPPING = "shipping_notice"
SEQUENCE_CART_RECOVERY = "cart_recovery"
SEQUENCE_WINBACK = "winback"
SEQUENCES = (SEQUENCE_WELCOME, SEQUENCE_SHIPPING, SEQUENCE_CART_RECOVERY, SEQUENCE_WINBACK)

# ---- HTTP paths (API Gateway and the local server serve the same ones)
PATH_SHOPIFY_WEBHOOK = "/webhooks/shopify"
PATH_GENERIC_WEBHOOK = "/webhooks/generic"
PATH_LINE_WEBHOOK = "/webhooks/line"
PATH_CART_WEBHOOK = (
    "/webhooks/{cart}/{connection}"  # id-only pushes of a polled cart (EC-CUBE), one per connection
)
PATH_LINE_LINK = "/line/link"  # LINE account linking: the shop's member page redirects here (signed)
PATH_UNSUBSCRIBE = "/u/{token}"
PATH_CLICK = "/r/{token}"  # tracked links: signed redirect (enishi.tracking.links)

# ---- CloudFormation outputs
OUTPUT_API_URL = "ApiUrl"
OUTPUT_TABLE_NAME = "TableName"
OUTPUT_EVENT_BUS_NAME = "EventBusName"
OUTPUT_SHOPIFY_SECRET_ARN = "ShopifySecretArn"
OUTPUT_GENERIC_SECRET_ARN = "GenericSecretArn"
OUTPUT_LINE_SECRET_ARN = "LineSecretArn"
OUTPUT_RAW_BUCKET_NAME = "RawPayloadBucketName"
OUTPUT_ANALYTICS_BUCKET_NAME = "AnalyticsBucketName"  # results/latest.json (enishi.analytics.result)
OUTPUT_ANALYTICS_STATE_MACHINE_ARN = (
    "AnalyticsStateMachineArn"  # the Analytics job (`enishi report --refresh`)
)
OUTPUT_PRIVACY_BUCKET_NAME = "PrivacyBucketName"
OUTPUT_PRIVACY_TOPIC_ARN = "PrivacyTopicArn"
OUTPUT_CAMPAIGN_STATE_MACHINE_ARN = "CampaignStateMachineArn"
