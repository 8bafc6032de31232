-- description: Lapsed customers who used to spend the most: the win-back campaign's priority list
-- owner: lifecycle-marketing
SELECT l.customer_id, l.last_order_at, r.monetary
FROM lapsed_win_back l
JOIN rfm r ON r.customer_id = l.customer_id
WHERE r.m >= 4
