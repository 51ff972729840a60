-- Per model, version and day (in the time zone named in column "timezone"): volume, latency, label
-- coverage and delay, and the prediction's mean (numeric predictions) or class shares (classes).
CREATE OR REPLACE VIEW ml_daily AS
WITH days AS (
    SELECT model,
           model_version,
           CAST(timezone('{tz}', time) AS DATE) AS day,
           count(*) AS inferences,
           quantile_cont(latency_ms, 0.5) AS latency_p50_ms,
           quantile_cont(latency_ms, 0.95) AS latency_p95_ms,
           quantile_cont(latency_ms, 0.99) AS latency_p99_ms,
           avg(CASE WHEN label IS NOT NULL OR label_class IS NOT NULL THEN 1.0 ELSE 0.0 END) AS label_coverage,
           median(label_delay_s) AS label_delay_median_s,
           avg(prediction) AS prediction_mean,
           count(prediction_class) AS classified,
           histogram(prediction_class) AS class_counts
    FROM inferences_labeled
    GROUP BY ALL
)
SELECT model,
       model_version,
       day,
       '{tz}' AS timezone,
       inferences,
       latency_p50_ms,
       latency_p95_ms,
       latency_p99_ms,
       label_coverage,
       label_delay_median_s,
       prediction_mean,
       CASE WHEN classified > 0 THEN map_from_entries(list_transform(map_entries(class_counts),
           lambda e: struct_pack(key := e.key, value := e.value / classified))) END AS class_shares
FROM days;
