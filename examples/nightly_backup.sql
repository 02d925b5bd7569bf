-- A nightly backup that runs itself: database shop at 03:00 Berlin time, the last 7 snapshots
-- kept, retried when it fails, watched by the metrics (docs/operations.md, "Alerts").
--
--   mysql -h 127.0.0.1 -P 9030 -u root < examples/nightly_backup.sql
--
-- Replace the location with your own (s3://bucket/path with PROPERTIES for credentials, see
-- docs/repositories.md). The task runs as the account that submits it, so that account needs
-- the REPOSITORY privilege and SELECT on shop's tables, now and at every run.

CREATE REPOSITORY nightly_repo WITH BROKER ON LOCATION "file:///tmp/backstop-nightly";

USE shop;

-- Every night at 03:00 in Europe/Berlin (02:00 UTC in winter, 01:00 in summer). One snapshot
-- label, a new timestamp each night: SHOW SNAPSHOT ON nightly_repo lists the history.
--   keep_last      after each success, drop this server's snapshots of the label but the 7
--                  newest (objects newer snapshots still use stay: incremental chains stay whole)
--   on_busy        'wait': if another backup or restore of shop is running, start when it ends
--   retry_count    a failed night is tried again up to 3 times, 10 minutes after the failure,
--   retry_interval then 20, then 40 (never past the next night)
-- StarRocks' own form works too: SCHEDULE START('2026-12-07 02:00:00') EVERY(INTERVAL 1 DAY).
-- A "ttl" = "30 DAY" property on the BACKUP would instead drop each snapshot after 30 days.
SUBMIT TASK shop_nightly
    SCHEDULE CRON '0 3 * * *' TIME ZONE 'Europe/Berlin'
    PROPERTIES ("keep_last" = "7", "on_busy" = "wait", "retry_count" = "3", "retry_interval" = "600")
    AS BACKUP SNAPSHOT shop_nightly TO nightly_repo;

-- When it runs next (UTC), and how its runs went.
SELECT task_name, schedule, state, next_run_time FROM information_schema.tasks
    WHERE task_name = 'shop_nightly';
SELECT state, create_time, finish_time, error_message, extra_message
    FROM information_schema.task_runs WHERE task_name = 'shop_nightly'
    ORDER BY create_time DESC LIMIT 7;

-- To pause it: ALTER TASK shop_nightly SUSPEND;   again: ALTER TASK shop_nightly RESUME;
-- To stop it for good: DROP TASK shop_nightly;
