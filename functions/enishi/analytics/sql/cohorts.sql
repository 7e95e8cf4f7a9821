-- Per first-order cohort (month of the first order, JST): customers, revenue within 90/180/365 days of each
-- customer's first order, second orders within 30/60/90 days, customers with 2+ orders, and the cohort's latest
-- first order (a window is complete once that plus the window is before the export's time).
-- Orders: placed (not cancelled) order items of the shop. Parameters: $table, $shop.
WITH o AS (
$placed_orders
),
ranked AS (
    SELECT
        customer_id,
        placed_at,
        total,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY placed_at, order_id) AS n
    FROM o
),
firsts AS (
    SELECT customer_id, placed_at AS first_at FROM ranked WHERE n = 1
),
seconds AS (
    SELECT customer_id, placed_at AS second_at FROM ranked WHERE n = 2
),
per_customer AS (
    SELECT
        f.customer_id,
        f.first_at,
        s.second_at,
        COUNT(*) AS orders,
        SUM(CASE WHEN r.placed_at <= f.first_at + INTERVAL '90' DAY THEN r.total ELSE 0 END) AS rev_90,
        SUM(CASE WHEN r.placed_at <= f.first_at + INTERVAL '180' DAY THEN r.total ELSE 0 END) AS rev_180,
        SUM(CASE WHEN r.placed_at <= f.first_at + INTERVAL '365' DAY THEN r.total ELSE 0 END) AS rev_365
    FROM firsts f
    JOIN ranked r ON r.customer_id = f.customer_id
    LEFT JOIN seconds s ON s.customer_id = f.customer_id
    GROUP BY f.customer_id, f.first_at, s.second_at
)
SELECT
    substr(CAST(first_at + INTERVAL '9' HOUR AS VARCHAR), 1, 7) AS month,
    COUNT(*) AS customers,
    SUM(rev_90) AS revenue_90,
    SUM(rev_180) AS revenue_180,
    SUM(rev_365) AS revenue_365,
    SUM(CASE WHEN second_at <= first_at + INTERVAL '30' DAY THEN 1 ELSE 0 END) AS f2_30,
    SUM(CASE WHEN second_at <= first_at + INTERVAL '60' DAY THEN 1 ELSE 0 END) AS f2_60,
    SUM(CASE WHEN second_at <= first_at + INTERVAL '90' DAY THEN 1 ELSE 0 END) AS f2_90,
    SUM(CASE WHEN orders >= 2 THEN 1 ELSE 0 END) AS repeaters,
    substr(CAST(MAX(first_at) AS VARCHAR), 1, 19) AS last_first_order_at
FROM per_customer
GROUP BY 1
ORDER BY 1
