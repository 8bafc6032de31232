-- description: Loyal high-value customers: RFM Champions and Loyal Customers in the top spend quintile
-- owner: crm-team
SELECT customer_id, frequency, round(monetary, 2) AS monetary, segment
FROM rfm
WHERE segment IN ('Champions', 'Loyal Customers') AND m = 5
