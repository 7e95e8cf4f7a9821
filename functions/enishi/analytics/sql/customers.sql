-- One row per customer of the shop (profile items; merged guests and redacted profiles left out), with the
-- RFM quintiles within the shop's buyers: NTILE(5) over last order time (recency: 5 = most recent), F(n)
-- (frequency) and total spent (monetary); ties broken by customer id so every engine gives the same scores.
-- Leads (no order) get no scores. Parameters: $table, $shop.
WITH p AS (
    SELECT
        Item.customer_id.S AS customer_id,
        CAST(COALESCE(Item.order_count.N, '0') AS BIGINT) AS orders,
        CAST(COALESCE(Item.total_spent.N, '0') AS DECIMAL(18, 2)) AS monetary,
        Item.first_order_at.S AS first_order_at,
        Item.last_order_at.S AS last_order_at,
        COALESCE(Item.stage.S, 'lead') AS stage,
        Item.rfm.M.r.N AS rfm_r,
        Item.rfm.M.f.N AS rfm_f,
        Item.rfm.M.m.N AS rfm_m,
        Item.segment.S AS segment
    FROM $table
    WHERE Item.sk.S = 'PROFILE'
        AND Item.shop.S = '$shop'
        AND Item.merged_into.S IS NULL
        AND COALESCE(Item.redacted.BOOL, false) = false
),
buyers AS (
    SELECT
        customer_id,
        NTILE(5) OVER (ORDER BY last_order_at, customer_id) AS r,
        NTILE(5) OVER (ORDER BY orders, customer_id) AS f,
        NTILE(5) OVER (ORDER BY monetary, customer_id) AS m
    FROM p
    WHERE orders > 0 AND last_order_at IS NOT NULL
)
SELECT
    p.customer_id,
    p.orders,
    p.monetary,
    p.first_order_at,
    p.last_order_at,
    p.stage,
    b.r,
    b.f,
    b.m,
    p.rfm_r,
    p.rfm_f,
    p.rfm_m,
    p.segment
FROM p
LEFT JOIN buyers b ON b.customer_id = p.customer_id
ORDER BY p.customer_id
