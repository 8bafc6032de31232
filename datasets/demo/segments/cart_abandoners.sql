-- description: Cart abandoners: logged-in visitors who added to cart in the last 30 days and completed no order after it
-- owner: ecommerce-team
WITH carts AS (
  SELECT user_id, max(occurred_at) AS last_cart_at
  FROM web_events
  WHERE event_type = 'add_to_cart' AND user_id IS NOT NULL
    AND occurred_at >= TIMESTAMP '2026-01-01' - INTERVAL '30 days'
  GROUP BY user_id
),
completed AS (
  SELECT user_id, max(occurred_at) AS last_order_at
  FROM web_events
  WHERE event_type = 'order_completed' AND user_id IS NOT NULL
  GROUP BY user_id
)
SELECT c.user_id AS customer_id, c.last_cart_at
FROM carts c LEFT JOIN completed o ON o.user_id = c.user_id
WHERE o.last_order_at IS NULL OR o.last_order_at < c.last_cart_at
