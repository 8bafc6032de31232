-- description: High value but slipping away: top-quintile spenders whose probability of being alive fell below one half
-- owner: retention-team
SELECT c.customer_id, round(c.p_alive, 3) AS p_alive, round(c.clv, 2) AS clv_12_months, r.last_order_at
FROM clv c
JOIN rfm r ON r.customer_id = c.customer_id
WHERE r.m = 5 AND c.p_alive < 0.5
