//! BACKUP / RESTORE driven from a JDBC client (MariaDB Connector/J, as DBeaver uses it): a
//! snapshot taken on one server is restored on a second server through JDBC, which polls
//! SHOW RESTORE, reads the result-set metadata and gets errors as SQLExceptions.
//!
//! The Java program is written into the daemon's scratch dir and run with Java's source
//! launcher (`java -cp <jar> RestoreJdbc.java ...`). A missing tool fails the test (run
//! `scripts/install-test-deps`); nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestDaemon, exec, require_file, require_tool, rows, run_with_deadline};

const MARIADB_JAR: &str = "/usr/share/java/mariadb-java-client.jar";
const CLIENT_DEADLINE: Duration = Duration::from_secs(120);

const RESTORE_JDBC: &str = r#"
import java.sql.*;

public class RestoreJdbc {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        String location = args[1];
        try (Connection c = DriverManager.getConnection(url, "root", "")) {
            Statement s = c.createStatement();
            s.execute("CREATE REPOSITORY test_repo WITH BROKER ON LOCATION \"" + location + "\"");
            String ts = null;
            try (ResultSet r = s.executeQuery("SHOW SNAPSHOT ON test_repo")) {
                System.out.println("snapshot_columns " + r.getMetaData().getColumnCount());
                while (r.next()) {
                    ts = r.getString("Timestamp");
                    System.out.println("snapshot " + r.getString("Snapshot") + " " + r.getString("Status"));
                }
            }
            s.execute("RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member) "
                + "PROPERTIES (\"backup_timestamp\" = \"" + ts + "\", \"replication_num\" = \"1\")");
            String state = "";
            String status = "";
            String label = "";
            int columns = 0;
            long deadline = System.currentTimeMillis() + 30000;
            while (System.currentTimeMillis() < deadline) {
                try (ResultSet r = s.executeQuery("SHOW RESTORE FROM sr_hub")) {
                    columns = r.getMetaData().getColumnCount();
                    if (r.next()) {
                        state = r.getString("State");
                        status = r.getString("Status");
                        label = r.getString("Label");
                    }
                }
                if (state.equals("FINISHED") || state.equals("CANCELLED")) {
                    break;
                }
                Thread.sleep(100);
            }
            System.out.println("restore_columns " + columns);
            System.out.println("restore " + label + " " + state + " " + status);
            try (ResultSet r = s.executeQuery("CHECKSUM TABLE sr_hub.sr_member")) {
                r.next();
                System.out.println("checksum " + r.getString(1) + " " + r.getString(2));
            }
            try (PreparedStatement p = c.prepareStatement(
                    "SELECT count(*) FROM sr_hub.sr_member WHERE sr_id > ?")) {
                p.setInt(1, 0);
                try (ResultSet r = p.executeQuery()) {
                    r.next();
                    System.out.println("count " + r.getLong(1));
                }
            }
            try {
                s.execute("RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member)");
                System.out.println("error none");
            } catch (SQLException e) {
                System.out.println("error " + e.getErrorCode() + " " + e.getSQLState() + " " + e.getMessage());
            }
        }
    }
}
"#;

#[tokio::test]
async fn jdbc_restores_a_snapshot_taken_on_another_server() {
    let java = require_tool("java");
    let jar = require_file(MARIADB_JAR);
    let repo_dir = tempfile::Builder::new()
        .prefix("backstop-repo-")
        .tempdir()
        .unwrap();
    let location = format!("file://{}", repo_dir.path().display());

    // The source server takes the snapshot (through mysql_async).
    let source = TestDaemon::start();
    let mut c = source.conn().await;
    exec(&mut c, "CREATE DATABASE sr_hub").await;
    exec(
        &mut c,
        "CREATE TABLE sr_hub.sr_member (sr_id INT NOT NULL, name STRING, city_code INT, \
         reg_date DATE NOT NULL) DUPLICATE KEY(sr_id) PARTITION BY RANGE(reg_date) (\
         PARTITION p1 VALUES [('2022-03-13'), ('2022-03-14')), \
         PARTITION p2 VALUES [('2022-03-14'), ('2022-03-15')), \
         PARTITION p3 VALUES [('2022-03-15'), ('2022-03-16'))) \
         DISTRIBUTED BY HASH(sr_id) BUCKETS 4",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO sr_hub.sr_member VALUES (1, 'tom', 100000, '2022-03-13'), \
         (2, 'johndoe', 210000, '2022-03-14'), (3, 'maruko', 200000, '2022-03-14'), \
         (4, 'simo', 200000, '2022-03-15'), (5, 'bb', 220000, '2022-03-15')",
    )
    .await;
    exec(
        &mut c,
        &format!("CREATE REPOSITORY test_repo WITH BROKER ON LOCATION \"{location}\""),
    )
    .await;
    exec(
        &mut c,
        "BACKUP SNAPSHOT sr_hub.sr_member_backup TO test_repo ON (sr_member)",
    )
    .await;
    let start = Instant::now();
    loop {
        let r = rows(&mut c, "SHOW BACKUP FROM sr_hub").await;
        if r[0][3].as_deref() == Some("FINISHED") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the backup did not finish: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sum = rows(&mut c, "CHECKSUM TABLE sr_hub.sr_member").await[0][1]
        .clone()
        .unwrap();

    // The target server restores it through JDBC.
    let target = TestDaemon::start();
    let program = target.scratch_dir().join("RestoreJdbc.java");
    std::fs::write(&program, RESTORE_JDBC).unwrap();
    let url = format!("jdbc:mariadb://127.0.0.1:{}/", target.port());
    let mut cmd = Command::new(java);
    cmd.arg("-cp")
        .arg(&jar)
        .arg(&program)
        .arg(&url)
        .arg(&location);
    let out = run_with_deadline(&mut cmd, "", CLIENT_DEADLINE);
    assert!(out.status.success(), "java RestoreJdbc.java\n{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "snapshot_columns 3",
            "snapshot sr_member_backup OK",
            "restore_columns 18",
            "restore sr_member_backup FINISHED [OK]",
            &format!("checksum sr_hub.sr_member {sum}"),
            "count 5",
        ],
        "{out}"
    );
    let error = lines[6];
    assert!(
        error.starts_with("error 5064 42000 ")
            && error.contains("Missing backup_timestamp property"),
        "{out}"
    );
    assert_eq!(lines.len(), 7, "{out}");

    // The restored table is the source's, row for row.
    let mut t = target.conn().await;
    assert_eq!(
        rows(&mut t, "SELECT * FROM sr_hub.sr_member ORDER BY sr_id").await,
        rows(&mut c, "SELECT * FROM sr_hub.sr_member ORDER BY sr_id").await
    );
}
