"""LINE account linking as a feature: ``GET /line/link`` (signed by the shop's backend) → link token → nonce →
LINE's account-link dialog. The ``accountLink`` webhook (``enishi.line_webhook``) completes it."""
