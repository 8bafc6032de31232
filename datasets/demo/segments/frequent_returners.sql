-- description: Frequent returners: at least three returned orders and a return rate of 20 % or more
-- owner: customer-service
SELECT contact_id AS customer_id, count(*) AS orders,
       sum(CASE WHEN is_returned THEN 1 ELSE 0 END) AS returns
FROM orders
WHERE contact_id IS NOT NULL
GROUP BY contact_id
HAVING sum(CASE WHEN is_returned THEN 1 ELSE 0 END) >= 3
   AND sum(CASE WHEN is_returned THEN 1 ELSE 0 END) >= 0.2 * count(*)
