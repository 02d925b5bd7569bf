//! Snapshots written by earlier snapshot-format versions keep listing, verifying and restoring,
//! forever. `tests/fixtures/format-v<N>/` holds a `file://` repository written by the backstop
//! of format version N (never rewritten; a new format version adds a folder beside it). Each is
//! copied to a scratch folder (nothing here may change the committed bytes), then listed,
//! verified in full, dry-run restored and restored, and the restored tables are compared with
//! what the writing server reported: CHECKSUM TABLE and the rows themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::{Path, PathBuf};

use common::backup::*;
use common::{TestDaemon, exec, rows};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn fixture(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("format-v{version}"))
}

/// A daemon with fixture `version` copied to a scratch folder as repository `fixture`, after
/// checking that SHOW SNAPSHOT lists exactly `label` at `ts`, OK, and a full VERIFY passes.
async fn listed_and_verified(
    version: u32,
    label: &str,
    ts: &str,
) -> (TestDaemon, mysql_async::Conn) {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    let dir = daemon.scratch_dir().join(format!("fixture-v{version}"));
    copy_tree(&fixture(version), &dir);
    create_repo(&mut conn, "fixture", &dir).await;
    assert_eq!(
        rows(&mut conn, "SHOW SNAPSHOT ON fixture").await,
        vec![text_row(&[label, ts, "OK"])]
    );
    let verified = rows(
        &mut conn,
        &format!("VERIFY SNAPSHOT {label} ON fixture PROPERTIES (\"sync\" = \"true\")"),
    )
    .await;
    let status = verified[0].last().cloned().flatten();
    assert_eq!(status.as_deref(), Some("[OK]"), "VERIFY: {verified:?}");
    (daemon, conn)
}

/// Format version 1 (backstop 0.1.0, written 2026-12-06 by commit 4de517f): database `fx`,
/// snapshot `snap_v1` of a range-partitioned DUPLICATE KEY table of every scalar type family
/// (`sales`, two loads) and a list-partitioned, randomly distributed one (`tags`).
#[tokio::test]
async fn format_v1_snapshots_list_verify_and_restore() {
    let (_daemon, mut conn) = listed_and_verified(1, "snap_v1", "2026-12-06-08-31-04-572").await;
    let dry = rows(
        &mut conn,
        "RESTORE SNAPSHOT fx.snap_v1 FROM fixture PROPERTIES \
         (\"backup_timestamp\" = \"2026-12-06-08-31-04-572\", \"dry_run\" = \"true\")",
    )
    .await;
    assert!(!dry.is_empty(), "the dry run lists what it would restore");
    exec(&mut conn, "CREATE DATABASE fx").await;
    exec(
        &mut conn,
        "RESTORE SNAPSHOT fx.snap_v1 FROM fixture PROPERTIES \
         (\"backup_timestamp\" = \"2026-12-06-08-31-04-572\")",
    )
    .await;
    wait_finished(&mut conn, "RESTORE", "fx").await;
    // What the writing server answered for CHECKSUM TABLE just before the backup.
    assert_eq!(checksum(&mut conn, "fx.sales").await, "5526579062381921847");
    assert_eq!(checksum(&mut conn, "fx.tags").await, "17675914813902407376");
    assert_eq!(
        rows(
            &mut conn,
            "SELECT k, dt, city, amount, big, f, ts, flag, s FROM fx.sales ORDER BY k"
        )
        .await,
        vec![
            text_row(&[
                "1",
                "2025-03-01",
                "Oslo",
                "12.50",
                "170141183460469231731687303715884105",
                "1.5",
                "2025-03-01 10:00:00",
                "1",
                "héllo"
            ]),
            text_row(&[
                "2",
                "2026-07-04",
                "NULL",
                "-3.25",
                "-1",
                "NULL",
                "NULL",
                "0",
                ""
            ]),
            text_row(&[
                "3",
                "2026-12-31",
                "Zürich",
                "99999999.99",
                "0",
                "22500000000.0",
                "2026-12-31 23:59:59",
                "NULL",
                "NULL"
            ]),
            text_row(&[
                "4",
                "2025-01-01",
                "Lima",
                "0.01",
                "42",
                "0.0",
                "2025-01-01 00:00:00",
                "1",
                "second load"
            ]),
        ]
    );
    assert_eq!(
        rows(&mut conn, "SELECT id, tag FROM fx.tags ORDER BY id").await,
        vec![
            text_row(&["1", "a"]),
            text_row(&["2", "b"]),
            text_row(&["3", "c"]),
            text_row(&["4", "a"]),
        ]
    );
}

/// Format version 2 (written 2026-12-06 by the commit that added JSON and VARBINARY):
/// database `fx`, snapshot `snap_v2` of a partitioned PRIMARY KEY table after upserts, UPDATE
/// and DELETE (`orders`), a UNIQUE KEY table with NULL keys (`latest`), a randomly distributed
/// DUPLICATE KEY table after a DELETE (`log`) and a PRIMARY KEY table of JSON and VARBINARY
/// (`docs`): data files and delete files.
#[tokio::test]
async fn format_v2_snapshots_list_verify_and_restore() {
    const TS: &str = "2026-12-06-09-29-32-290";
    let (_daemon, mut conn) = listed_and_verified(2, "snap_v2", TS).await;
    exec(&mut conn, "CREATE DATABASE fx").await;
    exec(
        &mut conn,
        &format!(
            "RESTORE SNAPSHOT fx.snap_v2 FROM fixture PROPERTIES (\"backup_timestamp\" = \"{TS}\")"
        ),
    )
    .await;
    wait_finished(&mut conn, "RESTORE", "fx").await;
    // What the writing server answered just before the backup.
    assert_checksums(
        &mut conn,
        &[
            ("orders", "8217233481936756835"),
            ("latest", "15284004641801755302"),
            ("log", "14255417017466452014"),
            ("docs", "3447098624573529508"),
        ],
    )
    .await;
    assert_eq!(
        rows(
            &mut conn,
            "SELECT id, d, status, qty, amount FROM fx.orders ORDER BY id"
        )
        .await,
        vec![
            text_row(&["1", "2025-05-01", "new", "1", "10.00"]),
            text_row(&["2", "2025-06-01", "paid", "2", "20.50"]),
            text_row(&["3", "2026-01-02", "shipped", "30", "30.00"]),
            text_row(&["4", "2026-03-04", "shipped", "40", "40.25"]),
            text_row(&["6", "2026-12-31", "new", "6", "60.00"]),
        ]
    );
    assert_eq!(
        rows(&mut conn, "SELECT k, v FROM fx.latest ORDER BY k").await,
        vec![
            text_row(&["NULL", "n2"]),
            text_row(&["1", "a2"]),
            text_row(&["2", "b"]),
        ]
    );
    assert_eq!(
        rows(&mut conn, "SELECT k, msg FROM fx.log ORDER BY k").await,
        vec![text_row(&["2", "y"]), text_row(&["3", "z"])]
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT k, doc, encode(raw, 'hex') FROM fx.docs ORDER BY k"
        )
        .await,
        vec![
            text_row(&["1", r#"{"a": {"x": "é"}, "b": [1, 2]}"#, "616263"]),
            text_row(&["2", "[true, null]", "NULL"]),
            text_row(&["3", "NULL", "00ff10"]),
        ]
    );
    // The restored keyed table keeps upserting over the restored delete files.
    exec(
        &mut conn,
        "INSERT INTO fx.orders VALUES (2, '2025-06-01', 'refunded', 2, 0)",
    )
    .await;
    assert_eq!(
        rows(&mut conn, "SELECT status FROM fx.orders WHERE id = 2").await,
        vec![text_row(&["refunded"])]
    );
}

/// CHECKSUM TABLE of each `fx.<table>` is what the writing server answered.
async fn assert_checksums(conn: &mut mysql_async::Conn, expected: &[(&str, &str)]) {
    for (table, sum) in expected {
        assert_eq!(
            checksum(conn, &format!("fx.{table}")).await,
            *sum,
            "{table}"
        );
    }
}

fn text_row(values: &[&str]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| (*v != "NULL").then(|| v.to_string()))
        .collect()
}

/// Format version 3 (written 2026-12-06 by the working tree after commit bb5afe9, backup and
/// restore of views): database `fx`, snapshot
/// `snap_v3` of a range-partitioned table (`sales`) and three views: one with a column list and
/// comments over an unqualified name (`by_region`), a SECURITY INVOKER one over a qualified name
/// (`recent`), and one over a view through WITH (`big_regions`).
#[tokio::test]
async fn format_v3_snapshots_list_verify_and_restore() {
    const TS: &str = "2026-12-06-11-30-17-135";
    let (_daemon, mut conn) = listed_and_verified(3, "snap_v3", TS).await;
    let dry = rows(
        &mut conn,
        &format!(
            "RESTORE SNAPSHOT snap_v3 FROM fixture PROPERTIES (\"backup_timestamp\" = \"{TS}\", \
             \"dry_run\" = \"true\")"
        ),
    )
    .await;
    let actions: Vec<(String, String)> = dry
        .iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[2].clone().unwrap_or_default(),
            )
        })
        .collect();
    for view in ["big_regions", "by_region", "recent"] {
        assert!(
            actions.contains(&("CREATE VIEW".to_string(), view.to_string())),
            "{view}: {dry:?}"
        );
    }
    exec(
        &mut conn,
        &format!(
            "RESTORE SNAPSHOT snap_v3 FROM fixture PROPERTIES (\"backup_timestamp\" = \"{TS}\")"
        ),
    )
    .await;
    wait_finished(&mut conn, "RESTORE", "fx").await;
    // What the writing server answered just before the backup.
    assert_eq!(checksum(&mut conn, "fx.sales").await, "847114076680079148");
    assert_eq!(
        rows(
            &mut conn,
            "SELECT region, total FROM fx.by_region ORDER BY region"
        )
        .await,
        vec![
            text_row(&["north", "40.75"]),
            text_row(&["south", "20.00"]),
            text_row(&["unknown", "40.00"]),
        ]
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT id, day, amount FROM fx.recent ORDER BY id"
        )
        .await,
        vec![
            text_row(&["3", "2026-02-01", "30.25"]),
            text_row(&["4", "2026-11-30", "40.00"]),
        ]
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT region FROM fx.big_regions ORDER BY region"
        )
        .await,
        vec![text_row(&["north"]), text_row(&["unknown"])]
    );
    let created = rows(&mut conn, "SHOW CREATE VIEW fx.by_region").await;
    assert_eq!(
        created[0][1].as_deref(),
        Some(
            "CREATE VIEW `by_region` (`region` COMMENT \"sales region\", `total` COMMENT \"sum of \
             amounts\") COMMENT \"totals per region\" AS SELECT coalesce(region, 'unknown'), \
             sum(amount) FROM sales GROUP BY coalesce(region, 'unknown')"
        )
    );
    let created = rows(&mut conn, "SHOW CREATE VIEW fx.recent").await;
    assert!(
        created[0][1]
            .as_deref()
            .is_some_and(|t| t.contains("SECURITY INVOKER")),
        "{created:?}"
    );
}

/// Format version 4 (written 2026-12-06 by the working tree that added asynchronous
/// materialized views): database `fx`, snapshot `snap_v4` of a table (`events`), a materialized
/// view refreshed before the last load (`daily_kinds`, so its rows are older than its table's,
/// with an hourly schedule from 2030), a manual one (`kinds`) and a view over the first
/// (`buys`). The restore keeps the snapshot's rows and state; a refresh catches up.
#[tokio::test]
async fn format_v4_snapshots_list_verify_and_restore() {
    const TS: &str = "2026-12-06-11-47-55-362";
    let (_daemon, mut conn) = listed_and_verified(4, "snap_v4", TS).await;
    exec(
        &mut conn,
        &format!(
            "RESTORE SNAPSHOT snap_v4 FROM fixture PROPERTIES (\"backup_timestamp\" = \"{TS}\")"
        ),
    )
    .await;
    wait_finished(&mut conn, "RESTORE", "fx").await;
    // What the writing server answered just before the backup.
    assert_checksums(
        &mut conn,
        &[
            ("events", "1052712474375097533"),
            ("daily_kinds", "16345116572595517501"),
            ("kinds", "11973474837249787314"),
        ],
    )
    .await;
    assert_eq!(
        rows(&mut conn, "SELECT * FROM fx.buys").await,
        vec![text_row(&["2026-12-03", "1"])]
    );
    let shown = rows(
        &mut conn,
        "SHOW MATERIALIZED VIEWS FROM fx WHERE name = 'daily_kinds'",
    )
    .await;
    let cell = |i: usize| shown[0][i].clone().unwrap_or_default();
    assert_eq!(
        (cell(3), cell(4), cell(12)),
        ("ASYNC".into(), "true".into(), "SUCCESS".into()),
        "{shown:?}"
    );
    assert!(cell(21).contains("EVERY (INTERVAL 1 HOUR)"), "{shown:?}");
    assert!(
        cell(22).contains("restored from snapshot snap_v4/"),
        "{shown:?}"
    );
    exec(
        &mut conn,
        "REFRESH MATERIALIZED VIEW fx.daily_kinds WITH SYNC MODE",
    )
    .await;
    assert_eq!(
        rows(&mut conn, "SELECT * FROM fx.buys").await,
        vec![text_row(&["2026-12-03", "8"])]
    );
    assert_eq!(
        rows(&mut conn, "SELECT kind, c FROM fx.kinds ORDER BY kind").await,
        vec![
            text_row(&["buy", "2"]),
            text_row(&["click", "2"]),
            text_row(&["view", "1"]),
        ]
    );
}

/// Format version 5 (written 2026-12-06 by the working tree that added AGGREGATE KEY tables and
/// BITMAP and HLL columns): database `fx`, snapshot `snap_v5` of a partitioned AGGREGATE KEY
/// table (`sales`: SUM, MAX, MIN, REPLACE and REPLACE_IF_NOT_NULL columns, a NULL key,
/// extremes, unicode) after two aggregating loads and a DELETE, an AGGREGATE KEY table of
/// BITMAP_UNION and HLL_UNION columns (`visitors`: empty, small and 1,000-value sets) and a
/// PRIMARY KEY table with BITMAP and HLL values (`tags`) and a table partitioned by
/// `date_trunc('month', at)` whose loads created three partitions (`logs`). The restored tables
/// have the same rows and keep their model and partitioning: the next load merges with them,
/// or creates its partition.
#[tokio::test]
async fn format_v5_snapshots_list_verify_and_restore() {
    const TS: &str = "2026-12-06-18-32-18-332";
    let (_daemon, mut conn) = listed_and_verified(5, "snap_v5", TS).await;
    exec(
        &mut conn,
        &format!(
            "RESTORE SNAPSHOT snap_v5 FROM fixture PROPERTIES (\"backup_timestamp\" = \"{TS}\")"
        ),
    )
    .await;
    wait_finished(&mut conn, "RESTORE", "fx").await;
    // What the writing server answered just before the backup.
    assert_checksums(
        &mut conn,
        &[
            ("sales", "4722941485101297471"),
            ("visitors", "201608308964540664"),
            ("tags", "11971899863673165992"),
            ("logs", "14852780855206762177"),
        ],
    )
    .await;
    assert_eq!(
        rows(
            &mut conn,
            "SELECT page, bitmap_count(users), hll_cardinality(approx), \
             bitmap_to_string(bitmap_and(users, bitmap_from_string('2,999,18446744073709551615'))) \
             FROM fx.visitors ORDER BY page"
        )
        .await,
        vec![
            text_row(&["big", "1000", "998", "2,999"]),
            text_row(&["cart", "0", "0", ""]),
            text_row(&["home", "3", "2", "2,18446744073709551615"]),
        ]
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT id, bitmap_to_string(tagged), hll_cardinality(seen) FROM fx.tags ORDER BY id"
        )
        .await,
        vec![text_row(&["1", "5", "1"]), text_row(&["2", "NULL", "0"])]
    );
    exec(
        &mut conn,
        "INSERT INTO fx.visitors VALUES ('home', to_bitmap(7), hll_hash(7))",
    )
    .await;
    assert_eq!(
        rows(
            &mut conn,
            "SELECT bitmap_to_string(users), hll_cardinality(approx) FROM fx.visitors \
             WHERE page = 'home'"
        )
        .await,
        vec![text_row(&["1,2,7,18446744073709551615", "3"])]
    );
    let partitions = "SELECT PARTITION_NAME, TABLE_ROWS FROM information_schema.partitions \
                      WHERE table_schema = 'fx' AND table_name = 'logs' ORDER BY PARTITION_NAME";
    assert_eq!(
        rows(&mut conn, partitions).await,
        vec![
            text_row(&["p202601", "1"]),
            text_row(&["p202602", "1"]),
            text_row(&["p202612", "1"]),
        ]
    );
    exec(
        &mut conn,
        "INSERT INTO fx.logs VALUES ('2027-03-04 05:06:07', 4, 'later')",
    )
    .await;
    assert_eq!(rows(&mut conn, partitions).await.len(), 4);
    let all = "SELECT * FROM fx.sales ORDER BY shop";
    assert_eq!(
        rows(&mut conn, all).await,
        vec![
            text_row(&["NULL", "NULL", "1", "NULL", "NULL", "NULL", "NULL", "NULL"]),
            text_row(&[
                "1",
                "2025-06-01",
                "13",
                "11.75",
                "9.0",
                "-7",
                "NULL",
                "Oslo"
            ]),
            text_row(&["2", "2026-01-02", "5", "100.00", "0.0", "0", "ü", "Köln"]),
            text_row(&[
                "3",
                "2026-03-03",
                "9223372036854775807",
                "0.00",
                "0.0025",
                "-2147483648",
                "x",
                "",
            ]),
        ]
    );
    let shown = rows(&mut conn, "SHOW CREATE TABLE fx.sales").await;
    let ddl = shown[0][1].clone().unwrap_or_default();
    assert!(
        ddl.contains("`city` varchar(20) REPLACE_IF_NOT_NULL NULL")
            && ddl.contains("AGGREGATE KEY(`shop`, `d`)"),
        "{ddl}"
    );
    exec(
        &mut conn,
        "INSERT INTO fx.sales VALUES (1, '2025-06-01', 1, 0.25, 10, -8, 'pie', NULL)",
    )
    .await;
    assert_eq!(
        rows(
            &mut conn,
            "SELECT n, amount, top, low, last_item, city FROM fx.sales WHERE shop = 1"
        )
        .await,
        vec![text_row(&["14", "12.00", "10.0", "-8", "pie", "Oslo"])]
    );
}
