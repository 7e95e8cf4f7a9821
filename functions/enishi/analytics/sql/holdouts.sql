-- Treated vs. control per sequence and campaign (issue 12). A group member is one (customer, trigger) pair at
-- its first marketing step decision that passed every check: treated = a marketing record claimed for a send
-- (`sent`, or `sending` / `failed` / `failed_retryable`: assigned to the message even if it did not arrive —
-- intention to treat), control = a marketing record `skipped` with reason `holdout` (eligibility.decide holds out
-- only what would be sent now).
-- Its moment = that record's created_at (the earliest of the pair's). Conversion = an uncancelled order of the
-- customer placed after the moment and within $window_days days (not the triggering order); revenue = those
-- orders' totals (0 without one). Per group: n, conversions, revenue and its sum of squares (enishi.stats takes
-- the rest), and the latest moment (is the window complete?). Campaign records are `campaign-<id>` sequences.
-- Parameters: $table, $shop, $window_days.
WITH m AS (
    SELECT
        Item.sequence.S AS sequence,
        Item.customer_id.S AS customer_id,
        COALESCE(Item.trigger_id.S, '') AS trigger_id,
        CASE WHEN Item.status.S = 'skipped' THEN 0 ELSE 1 END AS treated,
        CAST(replace(replace(substr(Item.created_at.S, 1, 19), 'T', ' '), 'Z', '') AS TIMESTAMP) AS decided_at
    FROM $table
    WHERE substr(Item.sk.S, 1, 4) = 'MSG#'
        AND Item.shop.S = '$shop'
        AND Item.sequence.S IS NOT NULL
        AND Item.customer_id.S IS NOT NULL
        AND Item.created_at.S IS NOT NULL
        AND COALESCE(Item.marketing.BOOL, false) = true
        AND (
            Item.status.S IN ('sent', 'sending', 'failed', 'failed_retryable')
            OR (Item.status.S = 'skipped' AND Item.reason.S = 'holdout')
        )
),
g AS (
    SELECT sequence, customer_id, trigger_id, MAX(treated) AS treated, MIN(decided_at) AS decided_at
    FROM m
    GROUP BY sequence, customer_id, trigger_id
),
o AS (
$placed_orders
),
pairs AS (
    SELECT
        g.sequence,
        g.customer_id,
        g.trigger_id,
        g.treated,
        g.decided_at,
        COUNT(o.order_id) AS orders,
        CAST(COALESCE(SUM(o.total), 0) AS DOUBLE) AS revenue
    FROM g
    LEFT JOIN o
        ON o.customer_id = g.customer_id
        AND o.placed_at > g.decided_at
        AND o.placed_at <= g.decided_at + INTERVAL '$window_days' DAY
        AND o.order_id <> g.trigger_id
    GROUP BY g.sequence, g.customer_id, g.trigger_id, g.treated, g.decided_at
)
SELECT
    sequence,
    CASE WHEN treated = 1 THEN 'treated' ELSE 'control' END AS grp,
    COUNT(*) AS n,
    SUM(CASE WHEN orders > 0 THEN 1 ELSE 0 END) AS converted,
    SUM(revenue) AS revenue,
    SUM(revenue * revenue) AS revenue_sq,
    substr(CAST(MIN(decided_at) AS VARCHAR), 1, 19) AS first_at,
    substr(CAST(MAX(decided_at) AS VARCHAR), 1, 19) AS last_at
FROM pairs
GROUP BY 1, 2
ORDER BY 1, 2
