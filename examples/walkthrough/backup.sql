-- backstop walkthrough, part 1: on the source server.
-- StarRocks' backup walkthrough, ready to paste into `mysql -h 127.0.0.1 -P 9030 -u root`
-- or to run as `mysql -h 127.0.0.1 -P 9030 -u root --table < backup.sql`.
-- The repository is a local folder: create it first (mkdir -p /tmp/backstop-walkthrough).

CREATE REPOSITORY test_repo WITH BROKER ON LOCATION "file:///tmp/backstop-walkthrough";

CREATE DATABASE sr_hub;
USE sr_hub;
CREATE TABLE sr_member (
    sr_id INT NOT NULL,
    name STRING,
    city_code INT,
    reg_date DATE NOT NULL
) DUPLICATE KEY(sr_id)
PARTITION BY RANGE(reg_date) (
    PARTITION p1 VALUES [('2022-03-13'), ('2022-03-14')),
    PARTITION p2 VALUES [('2022-03-14'), ('2022-03-15')),
    PARTITION p3 VALUES [('2022-03-15'), ('2022-03-16'))
) DISTRIBUTED BY HASH(sr_id) BUCKETS 4
PROPERTIES ("replication_num" = "1");

INSERT INTO sr_member VALUES
    (1, 'tom', 100000, '2022-03-13'),
    (2, 'johndoe', 210000, '2022-03-14'),
    (3, 'maruko', 200000, '2022-03-14'),
    (4, 'simo', 200000, '2022-03-15'),
    (5, 'bb', 220000, '2022-03-15');

-- "sync" = "true" (a backstop property) waits for the job and answers one row whose
-- Timestamp is what RESTORE needs. Without it BACKUP returns at once: poll SHOW BACKUP.
BACKUP SNAPSHOT sr_hub.sr_member_backup TO test_repo ON (sr_member)
PROPERTIES ("sync" = "true");

SHOW BACKUP FROM sr_hub;
SHOW SNAPSHOT ON test_repo;
CHECKSUM TABLE sr_hub.sr_member;
