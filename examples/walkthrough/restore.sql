-- backstop walkthrough, part 2: on the target server (or the same one after DROP DATABASE sr_hub).
-- Put the Timestamp that part 1's BACKUP (or SHOW SNAPSHOT ON test_repo) printed in place of
-- @BACKUP_TIMESTAMP@, for example:
--   sed 's/@BACKUP_TIMESTAMP@/2026-11-25-10-02-33-125/' restore.sql | mysql -h 127.0.0.1 -P 9031 -u root --table

-- The same name and location as on the source: this server sees the same snapshots.
CREATE READ ONLY REPOSITORY test_repo WITH BROKER ON LOCATION "file:///tmp/backstop-walkthrough";
SHOW SNAPSHOT ON test_repo;

RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member)
PROPERTIES ("backup_timestamp" = "@BACKUP_TIMESTAMP@", "replication_num" = "1", "sync" = "true");

SHOW RESTORE FROM sr_hub;
-- The same Checksum as part 1 printed: the table is back, row for row.
CHECKSUM TABLE sr_hub.sr_member;
SELECT * FROM sr_hub.sr_member ORDER BY sr_id;
