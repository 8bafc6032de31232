-- description: Shops about every week: a repeat purchase day in at least half of the weeks since the first order
-- owner: crm-team
SELECT customer_id, frequency, round(t, 1) AS weeks_as_customer
FROM clv
WHERE frequency >= 4 AND frequency / t >= 0.5
