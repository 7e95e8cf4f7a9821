-- Per sequence, step, channel and A/B variant (NULL: no test): message records of the shop (MSG# items). `records`
-- counts every record (sent, skipped, failed: each was a step invocation, which costs), the outcome columns only
-- sent messages.
-- Revenue: attributed on the record by the profile consumer (converted_at, revenue); revenue_sq, its sum of squares
-- over the sent messages, is what the A/B revenue test needs (enishi.stats.Moments). Parameters: $table, $shop.
SELECT
    Item.sequence.S AS sequence,
    Item.step.S AS step,
    Item.channel.S AS channel,
    Item.variant.S AS variant,
    COUNT(*) AS records,
    COUNT(DISTINCT Item.trigger_id.S) AS triggers,
    SUM(CASE WHEN Item.status.S = 'sent' THEN 1 ELSE 0 END) AS sent,
    SUM(CASE WHEN Item.status.S = 'sent' AND Item.delivered_at.S IS NOT NULL THEN 1 ELSE 0 END) AS delivered,
    SUM(CASE WHEN Item.status.S = 'sent' AND Item.opened_at.S IS NOT NULL THEN 1 ELSE 0 END) AS opened,
    SUM(CASE WHEN Item.status.S = 'sent' AND Item.clicked_at.S IS NOT NULL THEN 1 ELSE 0 END) AS clicked,
    SUM(CASE WHEN Item.status.S = 'sent' AND Item.bounced_at.S IS NOT NULL THEN 1 ELSE 0 END) AS bounced,
    SUM(CASE WHEN Item.status.S = 'sent' AND Item.complained_at.S IS NOT NULL THEN 1 ELSE 0 END) AS complained,
    SUM(CASE WHEN Item.status.S = 'sent' AND Item.converted_at.S IS NOT NULL THEN 1 ELSE 0 END) AS converted,
    SUM(
        CASE WHEN Item.status.S = 'sent' THEN CAST(COALESCE(Item.revenue.N, '0') AS DECIMAL(18, 2)) ELSE 0 END
    ) AS revenue,
    SUM(
        CASE WHEN Item.status.S = 'sent' THEN POWER(CAST(COALESCE(Item.revenue.N, '0') AS DOUBLE), 2) ELSE 0 END
    ) AS revenue_sq
FROM $table
WHERE substr(Item.sk.S, 1, 4) = 'MSG#'
    AND Item.shop.S = '$shop'
    AND Item.sequence.S IS NOT NULL
GROUP BY Item.sequence.S, Item.step.S, Item.channel.S, Item.variant.S
ORDER BY 1, 2, 3, 4
