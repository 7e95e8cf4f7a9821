-- A fragment, not a query: the shop's placed (not cancelled) orders with a customer — customer_id, order_id,
-- placed_at (TIMESTAMP, UTC), total — for cohorts.sql and holdouts.sql (`$$placed_orders`). Parameters: $$table, $$shop.
    SELECT
        Item.customer_id.S AS customer_id,
        Item.order_id.S AS order_id,
        CAST(replace(replace(substr(Item.placed_at.S, 1, 19), 'T', ' '), 'Z', '') AS TIMESTAMP) AS placed_at,
        CAST(COALESCE(Item.total.N, '0') AS DECIMAL(18, 2)) AS total
    FROM $table
    WHERE Item.sk.S = 'ORDER'
        AND Item.shop.S = '$shop'
        AND Item.status.S = 'placed'
        AND Item.placed_at.S IS NOT NULL
        AND Item.customer_id.S IS NOT NULL
