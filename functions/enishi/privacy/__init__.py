"""What enishi holds on one customer: find it (``Holdings``), disclose it (``export``), erase it (``erase``).

Used by the operator commands (``enishi customer show|export|erase``) and meant for the deployed privacy handler
(Shopify ``customers/data_request`` / ``customers/redact``): boto3 objects are injected, nothing reads the
environment.
"""
