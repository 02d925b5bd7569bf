//! Table DDL over the MySQL wire against the real daemon: CREATE/DROP/TRUNCATE TABLE, ALTER
//! TABLE ADD/DROP PARTITION, SHOW TABLES/COLUMNS/CREATE TABLE/PARTITIONS/TABLET, DESC, the
//! error codes clients rely on, SHOW CREATE TABLE round trips, and durability across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use common::{TestDaemon, exec, rows, server_err};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// Column names of a result set (which must have at least one row).
async fn headers(conn: &mut Conn, sql: &str) -> Vec<String> {
    let result: Vec<mysql_async::Row> = conn.query(sql).await.unwrap();
    let first = result
        .first()
        .unwrap_or_else(|| panic!("{sql:?} returned no rows"));
    first
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect()
}

async fn show_create(conn: &mut Conn, table: &str) -> String {
    let r = rows(conn, &format!("SHOW CREATE TABLE {table}")).await;
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0][0].as_deref(),
        Some(table.rsplit('.').next().unwrap().trim_matches('`'))
    );
    r[0][1].clone().unwrap()
}

fn column(rows: &[Vec<Option<String>>], i: usize) -> Vec<String> {
    rows.iter()
        .map(|r| r[i].clone().unwrap_or_default())
        .collect()
}

/// Expects `sql` to fail with `code`; returns the message.
async fn expect_code(conn: &mut Conn, sql: &str, code: u16) -> String {
    let (got, state, message) = server_err(conn, sql).await;
    assert_eq!(got, code, "{sql:?}: {state} {message}");
    message
}

const SALES: &str = "CREATE TABLE sales (
    day DATE NOT NULL COMMENT 'sale day',
    id BIGINT,
    city VARCHAR(32) DEFAULT 'Berlin',
    amount DECIMAL(12, 2) DEFAULT '0.00',
    ts DATETIME DEFAULT CURRENT_TIMESTAMP
) DUPLICATE KEY(day, id)
COMMENT 'sales table'
PARTITION BY RANGE(day) (
    PARTITION p2023 VALUES LESS THAN ('2024-01-01'),
    PARTITION p202401 VALUES LESS THAN ('2024-02-01'),
    PARTITION pfuture VALUES [('2025-01-01'), (MAXVALUE))
) DISTRIBUTED BY HASH(id) BUCKETS 3
PROPERTIES ('replication_num' = '1', 'storage_medium' = 'HDD')";

#[tokio::test]
async fn errors_carry_mysql_codes() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;

    // No current database and none in the name.
    expect_code(&mut conn, "CREATE TABLE t (a INT)", 1046).await;
    expect_code(&mut conn, "SHOW TABLES", 1046).await;
    expect_code(&mut conn, "DESC t", 1046).await;
    // Unknown database.
    expect_code(&mut conn, "CREATE TABLE nodb.t (a INT)", 1049).await;
    expect_code(&mut conn, "SHOW TABLES FROM nodb", 1049).await;

    exec(&mut conn, "CREATE DATABASE d1").await;
    exec(&mut conn, "USE d1").await;
    exec(&mut conn, SALES).await;
    // Exists.
    let m = expect_code(&mut conn, "CREATE TABLE sales (a INT)", 1050).await;
    assert!(m.contains("'sales' already exists"), "{m}");
    exec(&mut conn, "CREATE TABLE IF NOT EXISTS sales (a INT)").await;
    // Unknown table, for every statement that names one.
    for sql in [
        "DESC nope",
        "DESCRIBE d1.nope",
        "SHOW COLUMNS FROM nope",
        "SHOW CREATE TABLE nope",
        "SHOW PARTITIONS FROM nope",
        "SHOW TABLET FROM nope",
        "DROP TABLE nope",
        "TRUNCATE TABLE nope",
        "ALTER TABLE nope ADD PARTITION p VALUES LESS THAN ('1')",
        "CREATE TABLE t2 LIKE nope",
        "DESC information_schema.nope",
    ] {
        let m = expect_code(&mut conn, sql, 1146).await;
        assert!(m.contains("nope' doesn't exist"), "{sql}: {m}");
    }
    exec(&mut conn, "DROP TABLE IF EXISTS nope").await;
    // Unknown column in the key, partitioning or distribution.
    for sql in [
        "CREATE TABLE t (a INT) DUPLICATE KEY(b)",
        "CREATE TABLE t (a INT) DISTRIBUTED BY HASH(b) BUCKETS 1",
        "CREATE TABLE t (a INT) PARTITION BY RANGE(b) ()",
    ] {
        let m = expect_code(&mut conn, sql, 1054).await;
        assert!(m.contains("Unknown column 'b'"), "{sql}: {m}");
    }
    expect_code(&mut conn, "CREATE TABLE t (a INT, A INT)", 1060).await;
    // AGGREGATE KEY: PERCENTILE_UNION needs a column type backstop does not have.
    let m = expect_code(
        &mut conn,
        "CREATE TABLE t (a INT, b BIGINT PERCENTILE_UNION) AGGREGATE KEY(a)",
        1235,
    )
    .await;
    assert!(m.contains("PERCENTILE_UNION"), "{m}");
    // Definition errors (StarRocks reports analysis errors as 1064).
    for (sql, expect) in [
        ("CREATE TABLE t (a DECIMAL(39, 2))", "between 1 and 38"),
        ("CREATE TABLE t (a VARCHAR(1048577))", "VARCHAR length"),
        (
            "CREATE TABLE t (a INT, b INT) DUPLICATE KEY(b)",
            "ordered prefix",
        ),
        (
            "CREATE TABLE t (a DOUBLE) DUPLICATE KEY(a)",
            "cannot be key columns",
        ),
        (
            "CREATE TABLE t (a INT) PARTITION BY RANGE(a) (PARTITION p VALUES LESS THAN ('x'))",
            "not a valid INT",
        ),
        (
            "CREATE TABLE t (a INT) PARTITION BY RANGE(a) (
                 PARTITION p1 VALUES [('0'), ('10')), PARTITION p2 VALUES [('5'), ('20')))",
            "overlaps partition 'p1'",
        ),
        (
            "CREATE TABLE t (a VARCHAR(5)) PARTITION BY RANGE(a) ()",
            "RANGE partitioning takes",
        ),
        (
            "CREATE TABLE t (a INT) DISTRIBUTED BY HASH(a) BUCKETS 0",
            "between 1 and 1024",
        ),
        (
            "CREATE TABLE t (a INT NOT NULL DEFAULT NULL)",
            "DEFAULT NULL",
        ),
        (
            "CREATE TABLE t (a DATE DEFAULT 'soon')",
            "Invalid default value",
        ),
    ] {
        let m = expect_code(&mut conn, sql, 1064).await;
        assert!(m.contains(expect), "{sql}: {m}");
    }
    // Partitions.
    let m = expect_code(
        &mut conn,
        "ALTER TABLE sales ADD PARTITION p3 VALUES LESS THAN ('2023-06-01')",
        1064,
    )
    .await;
    assert!(m.contains("overlaps partition 'p2023'"), "{m}");
    expect_code(
        &mut conn,
        "ALTER TABLE sales ADD PARTITION P2023 VALUES [('2030-01-01'), ('2031-01-01'))",
        1517,
    )
    .await;
    expect_code(&mut conn, "ALTER TABLE sales DROP PARTITION nope", 1735).await;
    expect_code(&mut conn, "TRUNCATE TABLE sales PARTITION (nope)", 1735).await;
    // Nothing above left a table behind.
    assert_eq!(
        rows(&mut conn, "SHOW TABLES").await,
        vec![vec![Some("sales".to_string())]]
    );
}

#[tokio::test]
async fn show_create_table_recreates_the_same_table() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE rt").await;
    exec(&mut conn, "USE rt").await;
    let definitions = [
        SALES,
        // LIST partitions of strings, every type, quoting that needs escapes.
        "CREATE TABLE all_types (
            `k 1` TINYINT NOT NULL, k2 SMALLINT, k3 INT(11), k4 BIGINT, k5 LARGEINT,
            b BOOLEAN DEFAULT 'true', f FLOAT, d DOUBLE, m DECIMAL64(18, 4), n DECIMAL,
            c CHAR(4), v VARCHAR(10) COMMENT 'it''s \"quoted\"', s STRING, dt DATE, t DATETIME
         ) DUPLICATE KEY(`k 1`, k2)
         PARTITION BY LIST(v) (PARTITION pa VALUES IN ('a', 'b'), PARTITION pc VALUES IN ('c'))
         DISTRIBUTED BY HASH(`k 1`, k3)",
        // No key, no partitioning, no distribution: StarRocks' defaults, printed explicitly.
        "CREATE TABLE plain (id INT, name VARCHAR(20), score DOUBLE)",
        // Integer ranges with a gap; LARGEINT extremes.
        "CREATE TABLE ranges (k LARGEINT, v INT) PARTITION BY RANGE(k) (
            PARTITION low VALUES LESS THAN ('-170141183460469231731687303715884105728'),
            PARTITION mid VALUES [('0'), ('100')),
            PARTITION top VALUES [('1000'), (MAXVALUE))
         ) DISTRIBUTED BY RANDOM BUCKETS 2",
        "CREATE TABLE dated (t DATETIME, v INT) PARTITION BY RANGE(t) (
            PARTITION p1 VALUES LESS THAN ('2024-01-01'),
            PARTITION p2 VALUES LESS THAN ('2024-01-02 12:30:00')
         ) DISTRIBUTED BY HASH(v) BUCKETS 1",
    ];
    for sql in definitions {
        exec(&mut conn, sql).await;
        let table = rows(&mut conn, "SHOW TABLES").await.pop().unwrap()[0]
            .clone()
            .unwrap();
        let quoted = format!("`{table}`");
        let first = show_create(&mut conn, &quoted).await;
        let desc = rows(&mut conn, &format!("DESC {quoted}")).await;
        let partitions = rows(&mut conn, &format!("SHOW PARTITIONS FROM {quoted}")).await;
        exec(&mut conn, &format!("DROP TABLE {quoted}")).await;
        exec(&mut conn, &first).await;
        let second = show_create(&mut conn, &quoted).await;
        assert_eq!(
            first, second,
            "SHOW CREATE TABLE of {table} does not round-trip"
        );
        assert_eq!(desc, rows(&mut conn, &format!("DESC {quoted}")).await);
        let again = rows(&mut conn, &format!("SHOW PARTITIONS FROM {quoted}")).await;
        // Same names, ranges, buckets (ids and times differ).
        for i in [1, 7, 9] {
            assert_eq!(
                column(&partitions, i),
                column(&again, i),
                "{table} column {i}"
            );
        }
        exec(&mut conn, &format!("DROP TABLE {quoted}")).await;
    }

    // Defaults are resolved and shown.
    exec(
        &mut conn,
        "CREATE TABLE plain (id INT, name VARCHAR(20), score DOUBLE)",
    )
    .await;
    let text = show_create(&mut conn, "plain").await;
    assert!(text.contains("DUPLICATE KEY(`id`, `name`)"), "{text}");
    assert!(text.contains("DISTRIBUTED BY RANDOM BUCKETS 10"), "{text}");
    assert!(text.contains("\"replication_num\" = \"1\""), "{text}");
    let parts = rows(&mut conn, "SHOW PARTITIONS FROM plain").await;
    assert_eq!(column(&parts, 1), ["plain"]);

    // LIKE copies the definition and the partitions, empty.
    exec(&mut conn, SALES).await;
    exec(&mut conn, "CREATE DATABASE other").await;
    exec(&mut conn, "CREATE TABLE other.copy LIKE sales").await;
    let original = show_create(&mut conn, "sales").await;
    let copy = show_create(&mut conn, "other.copy").await;
    assert_eq!(copy, original.replace("`sales`", "`copy`"));
}

#[tokio::test]
async fn partitions_tablets_and_truncate() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE d1").await;
    exec(&mut conn, "USE d1").await;
    exec(&mut conn, SALES).await;

    assert_eq!(
        headers(&mut conn, "SHOW PARTITIONS FROM sales").await,
        [
            "PartitionId",
            "PartitionName",
            "VisibleVersion",
            "VisibleVersionTime",
            "VisibleVersionHash",
            "State",
            "PartitionKey",
            "Range",
            "DistributionKey",
            "Buckets",
            "ReplicationNum",
            "StorageMedium",
            "CooldownTime",
            "LastConsistencyCheckTime",
            "DataSize",
            "IsInMemory",
            "RowCount",
        ]
    );
    let parts = rows(&mut conn, "SHOW PARTITIONS FROM d1.sales").await;
    assert_eq!(column(&parts, 1), ["p2023", "p202401", "pfuture"]);
    assert_eq!(column(&parts, 2), ["1", "1", "1"]);
    assert_eq!(
        parts[0][7].as_deref(),
        Some("[types: [DATE]; keys: [0000-01-01]; ..types: [DATE]; keys: [2024-01-01]; )")
    );
    assert_eq!(column(&parts, 6), ["day", "day", "day"]);
    assert_eq!(column(&parts, 8), ["id", "id", "id"]);
    assert_eq!(column(&parts, 14), ["0B", "0B", "0B"]);
    assert_eq!(column(&parts, 16), ["0", "0", "0"]);

    // A partition in the gap, with its own bucket count; then one dropped.
    exec(
        &mut conn,
        "ALTER TABLE sales ADD PARTITION p2024 VALUES LESS THAN ('2025-01-01') \
         DISTRIBUTED BY HASH(id) BUCKETS 5",
    )
    .await;
    exec(
        &mut conn,
        "ALTER TABLE sales ADD PARTITION IF NOT EXISTS p2024 VALUES LESS THAN ('2026-01-01')",
    )
    .await;
    let parts = rows(&mut conn, "SHOW PARTITIONS FROM sales").await;
    assert_eq!(column(&parts, 1), ["p2023", "p202401", "p2024", "pfuture"]);
    assert_eq!(column(&parts, 9), ["3", "3", "5", "3"]);
    assert_eq!(
        parts[2][7].as_deref(),
        Some("[types: [DATE]; keys: [2024-02-01]; ..types: [DATE]; keys: [2025-01-01]; )")
    );
    exec(&mut conn, "ALTER TABLE sales DROP PARTITION p202401").await;
    exec(
        &mut conn,
        "ALTER TABLE sales DROP PARTITION IF EXISTS p202401",
    )
    .await;

    let tablets = rows(&mut conn, "SHOW TABLET FROM sales").await;
    assert_eq!(tablets.len(), 3 + 5 + 3);
    assert_eq!(
        headers(&mut conn, "SHOW TABLET FROM sales").await,
        [
            "TabletId",
            "PartitionId",
            "PartitionName",
            "Bucket",
            "Version",
            "VersionCount",
            "RowCount",
            "DataSize",
            "State",
            "CompactionStatus",
        ]
    );
    let p2024: Vec<_> = tablets
        .iter()
        .filter(|t| t[2].as_deref() == Some("p2024"))
        .map(|t| t[3].clone().unwrap())
        .collect();
    assert_eq!(p2024, ["0", "1", "2", "3", "4"]);

    // TRUNCATE moves the partitions it empties to their next version.
    exec(&mut conn, "TRUNCATE TABLE sales PARTITION (p2023)").await;
    let parts = rows(&mut conn, "SHOW PARTITIONS FROM sales").await;
    assert_eq!(column(&parts, 2), ["2", "1", "1"]);
    exec(&mut conn, "TRUNCATE TABLE sales").await;
    let parts = rows(&mut conn, "SHOW PARTITIONS FROM sales").await;
    assert_eq!(column(&parts, 2), ["3", "2", "2"]);

    // LIST partitions.
    exec(
        &mut conn,
        "CREATE TABLE cities (city VARCHAR(20), n INT) PARTITION BY LIST(city) (
            PARTITION pe VALUES IN ('Berlin', 'Paris'), PARTITION pa VALUES IN ('Tokyo'))",
    )
    .await;
    let m = expect_code(
        &mut conn,
        "ALTER TABLE cities ADD PARTITION px VALUES IN ('Oslo', 'Paris')",
        1064,
    )
    .await;
    assert!(m.contains("already in partition 'pe'"), "{m}");
    exec(
        &mut conn,
        "ALTER TABLE cities ADD PARTITION px VALUES IN ('Oslo')",
    )
    .await;
    let parts = rows(&mut conn, "SHOW PARTITIONS FROM cities").await;
    assert_eq!(
        column(&parts, 7),
        ["(('Berlin'), ('Paris'))", "(('Tokyo'))", "(('Oslo'))"]
    );
    assert_eq!(column(&parts, 8), ["ALL KEY", "ALL KEY", "ALL KEY"]);
}

#[tokio::test]
async fn show_tables_and_columns() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE d1").await;
    exec(
        &mut conn,
        "CREATE TABLE d1.orders (id INT, note STRING COMMENT 'free text')",
    )
    .await;
    exec(&mut conn, "CREATE TABLE d1.order_lines (id INT)").await;
    exec(&mut conn, "CREATE TABLE d1.users (id INT)").await;

    assert_eq!(
        headers(&mut conn, "SHOW TABLES FROM d1").await,
        ["Tables_in_d1"]
    );
    let all = rows(&mut conn, "SHOW TABLES IN d1").await;
    assert_eq!(column(&all, 0), ["order_lines", "orders", "users"]);
    let like = rows(&mut conn, "SHOW FULL TABLES FROM d1 LIKE 'order%'").await;
    assert_eq!(
        like,
        vec![
            vec![Some("order_lines".into()), Some("BASE TABLE".into())],
            vec![Some("orders".into()), Some("BASE TABLE".into())],
        ]
    );

    assert_eq!(
        headers(&mut conn, "DESC d1.orders").await,
        ["Field", "Type", "Null", "Key", "Default", "Extra"]
    );
    let desc = rows(&mut conn, "DESC d1.orders").await;
    assert_eq!(
        desc,
        vec![
            vec![
                Some("id".into()),
                Some("INT".into()),
                Some("Yes".into()),
                Some("true".into()),
                None,
                Some(String::new())
            ],
            vec![
                Some("note".into()),
                // STRING is VARCHAR(65533), as StarRocks' DESC says.
                Some("VARCHAR(65533)".into()),
                Some("Yes".into()),
                // StarRocks' default key: leading columns up to the first string one.
                Some("true".into()),
                None,
                Some(String::new())
            ],
        ]
    );
    let cols = rows(&mut conn, "SHOW FULL COLUMNS FROM orders FROM d1 LIKE 'n%'").await;
    assert_eq!(cols.len(), 1);
    assert_eq!(cols[0][0].as_deref(), Some("note"));
    assert_eq!(cols[0][3].as_deref(), Some("YES"));
    assert_eq!(cols[0][4].as_deref(), Some("YES"));
    assert_eq!(cols[0][8].as_deref(), Some("free text"));

    // DROP TABLE of several tables at once.
    exec(&mut conn, "DROP TABLE d1.order_lines, d1.users").await;
    assert_eq!(
        column(&rows(&mut conn, "SHOW TABLES FROM d1").await, 0),
        ["orders"]
    );
}

#[tokio::test]
async fn tables_survive_restart_and_drop_database_drops_them() {
    let mut daemon = TestDaemon::start();
    let (before, partitions) = {
        let mut conn = daemon.conn().await;
        exec(&mut conn, "CREATE DATABASE d1").await;
        exec(&mut conn, "USE d1").await;
        exec(&mut conn, SALES).await;
        exec(&mut conn, "TRUNCATE TABLE sales PARTITION (p2023)").await;
        let text = show_create(&mut conn, "sales").await;
        let parts = rows(&mut conn, "SHOW PARTITIONS FROM sales").await;
        conn.disconnect().await.unwrap();
        (text, parts)
    };
    daemon.restart();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "USE d1").await;
    assert_eq!(show_create(&mut conn, "sales").await, before);
    assert_eq!(
        rows(&mut conn, "SHOW PARTITIONS FROM sales").await,
        partitions
    );

    // DROP DATABASE takes its tables with it: a new database of that name is empty.
    exec(&mut conn, "DROP DATABASE d1").await;
    expect_code(&mut conn, "SHOW TABLES", 1046).await;
    exec(&mut conn, "CREATE DATABASE d1").await;
    assert!(rows(&mut conn, "SHOW TABLES FROM d1").await.is_empty());
    expect_code(&mut conn, "DESC d1.sales", 1146).await;
}

#[tokio::test]
async fn checksum_table_reads_like_mysql() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE cs").await;
    exec(&mut conn, "USE cs").await;
    exec(&mut conn, SALES).await;
    assert_eq!(
        headers(&mut conn, "CHECKSUM TABLE sales").await,
        ["Table", "Checksum"]
    );
    // An empty table sums no rowsets; a missing one gives NULL and a warning, as in MySQL.
    let r = rows(&mut conn, "CHECKSUM TABLE sales, cs.nosuch").await;
    assert_eq!(
        r,
        vec![
            vec![Some("cs.sales".to_string()), Some("0".to_string())],
            vec![Some("cs.nosuch".to_string()), None],
        ]
    );
    let w = rows(&mut conn, "SHOW WARNINGS").await;
    assert_eq!(w.len(), 1);
    assert_eq!(w[0][1].as_deref(), Some("1146"));
    assert_eq!(w[0][2].as_deref(), Some("Table 'cs.nosuch' doesn't exist"));
}

/// Six clients upsert, UPDATE and DELETE overlapping keys of one PRIMARY KEY table at once:
/// the per-table write lock serializes them, so every key is there once, the catalog's row
/// count is what queries see, and the checksum is that of the same rows in a DUPLICATE KEY
/// table. A restart changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_updates_and_deletes_keep_keys_unique() {
    let mut daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(
        &mut conn,
        "CREATE DATABASE k; CREATE TABLE k.t (k INT NOT NULL, v INT, who INT) PRIMARY KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 3",
    )
    .await;
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..6i64 {
        let opts = daemon.opts();
        clients.spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            for s in 0..15i64 {
                let sql = match s % 5 {
                    3 => format!(
                        "UPDATE k.t SET v = v + 1, who = {c} WHERE k % 7 = {}",
                        s % 7
                    ),
                    4 => format!("DELETE FROM k.t WHERE k % 11 = {}", (c + s) % 11),
                    _ => {
                        let rows: Vec<String> = (0..12)
                            .map(|i| {
                                format!("({}, {}, {c})", (c * 5 + s * 3 + i) % 40, s * 100 + i)
                            })
                            .collect();
                        format!("INSERT INTO k.t VALUES {}", rows.join(", "))
                    }
                };
                conn.query_drop(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("client {c}: {sql}: {e}"));
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    let before = keyed_invariants(&mut conn).await;
    drop(conn);
    daemon.restart();
    let mut conn = daemon.conn().await;
    assert_eq!(keyed_invariants(&mut conn).await, before, "after a restart");
}

/// What must hold of `k.t` however its writes interleaved; returns its rows.
async fn keyed_invariants(conn: &mut Conn) -> Vec<Vec<Option<String>>> {
    let counts = rows(conn, "SELECT count(*), count(DISTINCT k) FROM k.t").await;
    assert_eq!(
        counts[0][0], counts[0][1],
        "a key is there twice: {counts:?}"
    );
    let n: u64 = counts[0][0].clone().unwrap().parse().unwrap();
    assert!(n > 0);
    let catalog: u64 = rows(conn, "SHOW PARTITIONS FROM k.t")
        .await
        .iter()
        .map(|r| r[16].clone().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(catalog, n, "the catalog's row count");
    let sum = rows(conn, "CHECKSUM TABLE k.t").await[0][1].clone();
    exec(
        conn,
        "DROP TABLE IF EXISTS k.copy; CREATE TABLE k.copy (k INT NOT NULL, v INT, who INT) \
         DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1; \
         INSERT INTO k.copy SELECT * FROM k.t",
    )
    .await;
    assert_eq!(rows(conn, "CHECKSUM TABLE k.copy").await[0][1], sum);
    rows(conn, "SELECT * FROM k.t ORDER BY k").await
}

/// DELETEs on a DUPLICATE KEY table run beside loads into it: none fails for the loads'
/// commits, each removes what it selected, and every loaded row stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_beside_loads_on_a_duplicate_key_table() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(
        &mut conn,
        "CREATE DATABASE d; CREATE TABLE d.t (k INT, v INT) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 2",
    )
    .await;
    let negatives: Vec<String> = (1..=40).map(|i| format!("(-{i}, {i})")).collect();
    exec(
        &mut conn,
        &format!("INSERT INTO d.t VALUES {}", negatives.join(", ")),
    )
    .await;
    let opts = daemon.opts();
    let loader = tokio::spawn(async move {
        let mut conn = mysql_async::Conn::new(opts).await.unwrap();
        for s in 0..30 {
            conn.query_drop(format!(
                "INSERT INTO d.t VALUES ({s}, {s}), ({}, {s})",
                s + 1000
            ))
            .await
            .unwrap();
        }
    });
    for i in 0..10 {
        exec(
            &mut conn,
            &format!("DELETE FROM d.t WHERE k < 0 AND v % 10 = {i}"),
        )
        .await;
    }
    loader.await.unwrap();
    assert_eq!(
        rows(&mut conn, "SELECT count(*) FROM d.t WHERE k < 0").await,
        vec![vec![Some("0".to_string())]]
    );
    assert_eq!(
        rows(&mut conn, "SELECT count(*) FROM d.t").await,
        vec![vec![Some("60".to_string())]]
    );
}

/// Polls `sql` until it answers `want` (or fails after 20 s, showing the last answer).
async fn wait_for_rows(conn: &mut Conn, sql: &str, want: &[Vec<Option<String>>]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = rows(conn, sql).await;
        if got == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql}: still {got:?}, want {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A daily materialized view refreshes when the daemon's clock passes its slot, not before:
/// its schedule reads the clock the test sets (`BACKSTOP_TEST_CLOCK_FILE`), never a day of sleep.
#[tokio::test]
async fn a_daily_materialized_view_follows_the_clock() {
    const JAN_1_2027: i64 = 1_798_761_600_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("clock");
    std::fs::write(&clock, JAN_1_2027.to_string()).unwrap();
    let clock_env = clock.to_string_lossy().to_string();
    let d = TestDaemon::start_with(&[], &[("BACKSTOP_TEST_CLOCK_FILE", clock_env.as_str())]);
    let mut c = d.conn().await;
    for sql in [
        "CREATE DATABASE m",
        "CREATE TABLE m.t (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2",
        "INSERT INTO m.t VALUES (1, 10)",
        "CREATE MATERIALIZED VIEW m.daily REFRESH DEFERRED ASYNC START ('2027-01-01 03:00:00') \
         EVERY (INTERVAL 1 DAY) AS SELECT sum(v) AS s FROM m.t",
    ] {
        exec(&mut c, sql).await;
    }
    let one = |s: &str| vec![vec![Some(s.to_string())]];
    // 01:00: the slot has not come.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(rows(&mut c, "SELECT s FROM m.daily").await.is_empty());
    std::fs::write(&clock, (JAN_1_2027 + 3 * 3_600_000 + 1_000).to_string()).unwrap();
    wait_for_rows(&mut c, "SELECT s FROM m.daily", &one("10")).await;
    exec(&mut c, "INSERT INTO m.t VALUES (2, 20)").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(rows(&mut c, "SELECT s FROM m.daily").await, one("10"));
    std::fs::write(&clock, (JAN_1_2027 + 27 * 3_600_000 + 1_000).to_string()).unwrap();
    wait_for_rows(&mut c, "SELECT s FROM m.daily", &one("30")).await;
}

/// A materialized view created IMMEDIATE gets its rows from a first refresh in the background;
/// one with `EVERY (INTERVAL 1 SECOND)` follows its base table by itself, also after a restart
/// (the schedule is the catalog's); an inactive one is left alone.
#[tokio::test]
async fn materialized_views_refresh_at_creation_and_on_their_schedule() {
    let mut d = TestDaemon::start();
    let mut c = d.conn().await;
    for sql in [
        "CREATE DATABASE m",
        "CREATE TABLE m.t (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2",
        "INSERT INTO m.t VALUES (1, 10), (2, 20)",
        "CREATE MATERIALIZED VIEW m.once REFRESH ASYNC AS SELECT sum(v) AS s FROM m.t",
        "CREATE MATERIALIZED VIEW m.ticking REFRESH ASYNC EVERY (INTERVAL 1 SECOND) \
         AS SELECT count(*) AS n, sum(v) AS s FROM m.t",
    ] {
        exec(&mut c, sql).await;
    }
    let one = |s: &str| vec![vec![Some(s.to_string())]];
    wait_for_rows(&mut c, "SELECT s FROM m.once", &one("30")).await;
    exec(&mut c, "INSERT INTO m.t VALUES (3, 30)").await;
    wait_for_rows(
        &mut c,
        "SELECT CONCAT(n, '/', s) FROM m.ticking",
        &one("3/60"),
    )
    .await;
    // Without a schedule nothing changes by itself.
    assert_eq!(rows(&mut c, "SELECT s FROM m.once").await, one("30"));
    let state = rows(
        &mut c,
        "SHOW MATERIALIZED VIEWS FROM m WHERE name = 'ticking'",
    )
    .await;
    assert_eq!(state[0][12].as_deref(), Some("SUCCESS"), "{state:?}");

    d.restart();
    let mut c = d.conn().await;
    exec(&mut c, "INSERT INTO m.t VALUES (4, 40)").await;
    wait_for_rows(
        &mut c,
        "SELECT CONCAT(n, '/', s) FROM m.ticking",
        &one("4/100"),
    )
    .await;
    exec(&mut c, "ALTER MATERIALIZED VIEW m.ticking INACTIVE").await;
    // A refresh already running when it turned inactive may still commit: let it finish.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = rows(&mut c, "SELECT n FROM m.ticking").await;
    exec(&mut c, "INSERT INTO m.t VALUES (5, 50)").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(rows(&mut c, "SELECT n FROM m.ticking").await, before);
}

async fn event_partitions(c: &mut Conn) -> Vec<String> {
    rows(
        c,
        "SELECT partition_name FROM information_schema.partitions \
         WHERE table_name = 'events' ORDER BY partition_name",
    )
    .await
    .into_iter()
    .map(|r| r[0].clone().unwrap_or_default())
    .collect()
}

/// The seed's plan with dynamic partitioning, on a clock the test moves: a DAY-partitioned table
/// gets today's and the next days' partitions at CREATE; each "day" a BACKUP of only that day's
/// partition; the clock moves on, the background round creates the new days and drops those
/// past `start`; a second server restores every daily snapshot and holds every day's rows,
/// including the days the first server has dropped since.
#[tokio::test]
async fn dynamic_partitions_follow_the_clock_and_daily_backups_restore_elsewhere() {
    const DAY_MS: i64 = 86_400_000;
    const JAN_1_2027: i64 = 1_798_761_600_000;
    let clock_dir = tempfile::tempdir().unwrap();
    let clock = clock_dir.path().join("clock");
    let set_clock = |ms: i64| std::fs::write(&clock, ms.to_string()).unwrap();
    set_clock(JAN_1_2027);
    let clock_env = clock.to_string_lossy().to_string();
    let a = TestDaemon::start_with(
        &["--dynamic-partition-interval", "1"],
        &[("BACKSTOP_TEST_CLOCK_FILE", clock_env.as_str())],
    );
    let mut c = a.conn().await;
    let repo = a.scratch_dir().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for sql in [
        format!(
            "CREATE REPOSITORY r ON LOCATION \"file://{}\"",
            repo.display()
        ),
        "CREATE DATABASE shop".into(),
        "CREATE TABLE shop.events (id INT, dt DATE NOT NULL, v INT) DUPLICATE KEY(id) \
         PARTITION BY RANGE(dt) () DISTRIBUTED BY HASH(id) BUCKETS 2 PROPERTIES (\
         \"dynamic_partition.enable\" = \"true\", \"dynamic_partition.time_unit\" = \"DAY\", \
         \"dynamic_partition.start\" = \"-1\", \"dynamic_partition.end\" = \"2\", \
         \"dynamic_partition.prefix\" = \"p\")"
            .into(),
    ] {
        exec(&mut c, &sql).await;
    }
    assert_eq!(
        event_partitions(&mut c).await,
        ["p20270101", "p20270102", "p20270103"]
    );
    let mut snapshots = Vec::new();
    for day in 0..3i64 {
        let date = format!("2027-01-0{}", day + 1);
        if day > 0 {
            set_clock(JAN_1_2027 + day * DAY_MS);
            let want = format!("p2027010{}", day + 3);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while !event_partitions(&mut c).await.contains(&want) {
                assert!(std::time::Instant::now() < deadline, "no {want} yet");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        exec(
            &mut c,
            &format!(
                "INSERT INTO shop.events VALUES ({day}, '{date}', {day}0), ({day}1, '{date}', 1)"
            ),
        )
        .await;
        let label = format!("day{}", day + 1);
        let row = rows(
            &mut c,
            &format!(
                "BACKUP SNAPSHOT shop.{label} TO r ON (events PARTITION (p2027010{})) \
                 PROPERTIES (\"sync\" = \"true\")",
                day + 1
            ),
        )
        .await;
        snapshots.push((label, row[0][3].clone().unwrap()));
    }
    // Day 3 with start = -1: the first day's partition is gone here.
    let now = event_partitions(&mut c).await;
    assert!(!now.contains(&"p20270101".to_string()), "{now:?}");
    assert_eq!(
        rows(&mut c, "SELECT count(*) FROM shop.events").await,
        [[Some("4".to_string())]]
    );
    let shown = rows(&mut c, "SHOW DYNAMIC PARTITION TABLES FROM shop").await;
    assert_eq!(shown[0][2].as_deref(), Some("DAY"), "{shown:?}");

    // ADMIN SET FRONTEND CONFIG turns the background rounds off: day 4 comes and goes without
    // a new partition; on again, the next round makes it.
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"dynamic_partition_enable\" = \"false\")",
    )
    .await;
    set_clock(JAN_1_2027 + 3 * DAY_MS);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !event_partitions(&mut c)
            .await
            .contains(&"p20270106".to_string())
    );
    assert_eq!(
        rows(&mut c, "SHOW DYNAMIC PARTITION TABLES FROM shop").await[0][14].as_deref(),
        Some("false")
    );
    exec(
        &mut c,
        "ADMIN SET FRONTEND CONFIG (\"dynamic_partition_enable\" = \"true\")",
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !event_partitions(&mut c)
        .await
        .contains(&"p20270106".to_string())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no p20270106 after enabling"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Every day's snapshot, restored in turn on a second server (the first creates the table).
    let b = TestDaemon::start();
    let mut cb = b.conn().await;
    exec(
        &mut cb,
        &format!(
            "CREATE REPOSITORY r ON LOCATION \"file://{}\"",
            repo.display()
        ),
    )
    .await;
    for (label, ts) in &snapshots {
        let row = rows(
            &mut cb,
            &format!(
                "RESTORE SNAPSHOT shop.{label} FROM r PROPERTIES (\"backup_timestamp\" = \"{ts}\", \
                 \"sync\" = \"true\")"
            ),
        )
        .await;
        assert_eq!(row[0][5].as_deref(), Some("FINISHED"), "{row:?}");
    }
    // Restored with dynamic partitioning off (its first round would drop the old days).
    assert!(
        rows(&mut cb, "SHOW DYNAMIC PARTITION TABLES FROM shop")
            .await
            .is_empty()
    );
    let created = rows(&mut cb, "SHOW CREATE TABLE shop.events").await;
    assert!(
        created[0][1]
            .as_deref()
            .is_some_and(|t| t.contains("\"dynamic_partition.enable\" = \"false\"")),
        "{created:?}"
    );
    assert_eq!(
        rows(
            &mut cb,
            "SELECT dt, count(*) FROM shop.events GROUP BY dt ORDER BY dt"
        )
        .await,
        [
            [Some("2027-01-01".to_string()), Some("2".to_string())],
            [Some("2027-01-02".to_string()), Some("2".to_string())],
            [Some("2027-01-03".to_string()), Some("2".to_string())],
        ]
    );
}

/// ALTER TABLE ... ADD COLUMN on DUPLICATE and PRIMARY KEY tables: rows written before read
/// NULL in the new column, later loads, upserts, UPDATE and DELETE (also by the new column, over
/// files written before it) work, and a BACKUP after the change restores into another database
/// with the same rows and checksums; a snapshot from before the change does not restore over
/// the changed table (the schemas differ), and restores beside it.
#[tokio::test]
async fn added_columns_read_null_in_old_rows_and_survive_backup_and_restore() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    let repo = d.scratch_dir().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for sql in [
        format!(
            "CREATE REPOSITORY r ON LOCATION \"file://{}\"",
            repo.display()
        ),
        "CREATE DATABASE a".into(),
        "USE a".into(),
        "CREATE TABLE pk (k INT NOT NULL, v INT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2"
            .into(),
        "INSERT INTO pk VALUES (1, 10), (2, 20), (3, 30)".into(),
        "CREATE TABLE dup (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2".into(),
        "INSERT INTO dup VALUES (1, 1), (2, 2)".into(),
        "BACKUP SNAPSHOT a.before TO r PROPERTIES (\"sync\" = \"true\")".into(),
        "CREATE MATERIALIZED VIEW a.everything REFRESH MANUAL AS SELECT * FROM a.pk".into(),
        "ALTER TABLE pk ADD COLUMN note VARCHAR(20) COMMENT 'added later'".into(),
        "ALTER TABLE dup ADD COLUMN (w BIGINT, s STRING)".into(),
        "INSERT INTO pk VALUES (4, 40, 'four'), (1, 11, 'one')".into(),
        "INSERT INTO dup VALUES (3, 3, 33, 'x')".into(),
        "UPDATE pk SET note = 'three' WHERE k = 3".into(),
        "DELETE FROM pk WHERE note IS NULL".into(),
        "DELETE FROM dup WHERE w IS NULL AND k = 1".into(),
    ] {
        exec(&mut c, &sql).await;
    }
    let text = |rows: Vec<Vec<Option<String>>>| format!("{rows:?}");
    let pk = text(rows(&mut c, "SELECT * FROM a.pk ORDER BY k").await);
    assert_eq!(
        pk,
        text(vec![
            vec![Some("1".into()), Some("11".into()), Some("one".into())],
            vec![Some("3".into()), Some("30".into()), Some("three".into())],
            vec![Some("4".into()), Some("40".into()), Some("four".into())],
        ])
    );
    let dup = text(rows(&mut c, "SELECT * FROM a.dup ORDER BY k").await);
    assert_eq!(
        dup,
        text(vec![
            vec![Some("2".into()), Some("2".into()), None, None],
            vec![
                Some("3".into()),
                Some("3".into()),
                Some("33".into()),
                Some("x".into())
            ],
        ])
    );
    // The view over `SELECT *` no longer fits: inactive, saying why.
    let mv = rows(
        &mut c,
        "SELECT is_active, inactive_reason FROM information_schema.materialized_views \
         WHERE table_name = 'everything'",
    )
    .await;
    assert_eq!(mv[0][0].as_deref(), Some("false"), "{mv:?}");
    assert!(
        mv[0][1]
            .as_deref()
            .is_some_and(|r| r.contains("base table a.pk changed (ADD COLUMN note)")),
        "{mv:?}"
    );
    exec(&mut c, "DROP MATERIALIZED VIEW a.everything").await;
    let desc = rows(&mut c, "DESC a.pk").await;
    assert_eq!(desc.len(), 3, "{desc:?}");
    let ts = rows(
        &mut c,
        "BACKUP SNAPSHOT a.after TO r PROPERTIES (\"sync\" = \"true\")",
    )
    .await[0][3]
        .clone()
        .unwrap();
    exec(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT after FROM r DATABASE a AS b PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"sync\" = \"true\")"
        ),
    )
    .await;
    assert_eq!(
        text(rows(&mut c, "SELECT * FROM b.pk ORDER BY k").await),
        pk
    );
    assert_eq!(
        text(rows(&mut c, "SELECT * FROM b.dup ORDER BY k").await),
        dup
    );
    let sums = |db: &str| format!("CHECKSUM TABLE {db}.pk, {db}.dup");
    let (x, y) = (
        rows(&mut c, &sums("a")).await,
        rows(&mut c, &sums("b")).await,
    );
    assert_eq!(
        x.iter().map(|r| r[1].clone()).collect::<Vec<_>>(),
        y.iter().map(|r| r[1].clone()).collect::<Vec<_>>()
    );
    // The snapshot from before the change: not over the changed table, but beside it.
    let before = rows(&mut c, "SHOW SNAPSHOT ON r WHERE SNAPSHOT = 'before'").await[0][1]
        .clone()
        .unwrap();
    let (code, _, message) = common::server_err(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT a.before FROM r ON (pk) PROPERTIES (\"backup_timestamp\" = \"{before}\", \"sync\" = \"true\")"
        ),
    )
    .await;
    assert_ne!(code, 0, "{message}");
    exec(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT a.before FROM r ON (pk AS pk_before) PROPERTIES (\"backup_timestamp\" = \"{before}\", \"sync\" = \"true\")"
        ),
    )
    .await;
    assert_eq!(
        rows(&mut c, "SELECT count(*) FROM a.pk_before").await,
        [[Some("3".to_string())]]
    );
}

/// Four clients load rows of overlapping new days into a table partitioned by
/// `date_trunc('day', d)` at once: each day gets one partition (whichever load created it, the
/// others load into it), every row is there, and each partition holds exactly its day's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_loads_share_the_partitions_they_create() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(
        &mut conn,
        "CREATE DATABASE e; CREATE TABLE e.t (d DATE NOT NULL, c INT, i INT) DUPLICATE KEY(d) \
         PARTITION BY date_trunc('day', d) DISTRIBUTED BY HASH(i) BUCKETS 2",
    )
    .await;
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..4i64 {
        let opts = daemon.opts();
        clients.spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            for s in 0..10i64 {
                // Days 1..=20 of January, three per statement, overlapping other clients'.
                let rows: Vec<String> = (0..3)
                    .map(|i| format!("('2026-01-{:02}', {c}, {s})", 1 + (c * 3 + s * 2 + i) % 20))
                    .collect();
                let sql = format!("INSERT INTO e.t VALUES {}", rows.join(", "));
                conn.query_drop(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("client {c}: {sql}: {e}"));
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        rows(&mut conn, "SELECT count(*), count(DISTINCT d) FROM e.t").await,
        vec![vec![Some("120".to_string()), Some("20".to_string())]]
    );
    let partitions = rows(
        &mut conn,
        "SELECT PARTITION_NAME, TABLE_ROWS FROM information_schema.partitions \
         WHERE table_schema = 'e' AND table_name = 't' ORDER BY PARTITION_NAME",
    )
    .await;
    let per_day = rows(
        &mut conn,
        "SELECT concat('p', date_format(d, '%Y%m%d')), count(*) FROM e.t GROUP BY d ORDER BY d",
    )
    .await;
    assert_eq!(partitions, per_day);
}
