-- description: Lapsed: bought at least twice, but not in the last six months (win-back)
-- owner: lifecycle-marketing
SELECT customer_id, last_order_at, frequency
FROM rfm
WHERE recency_days > 182 AND frequency >= 2
