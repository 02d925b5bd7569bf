//! Repository content that lies: manifests written by hand (with a COMMIT that names their
//! sha256, so they pass the commit check) that carry a wrong or newer format version, missing
//! fields, object keys outside `objects/` or outside the repository, huge declared sizes,
//! sizes or hashes that do not match the objects, names that no CREATE would accept, and odd
//! labels. Each must give a clear error from SHOW SNAPSHOT, RESTORE, VERIFY SNAPSHOT and DROP
//! SNAPSHOT, change nothing (tables, data files, files outside the repository), and never bring
//! the daemon down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::{Path, PathBuf};

use common::backup::{
    Prints, backup, data_files, files_under, fingerprint, load_sample, named_rows, restore_sql,
    scratch_repo, wait_done,
};
use common::{TestDaemon, exec, rows};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

const TABLES: &[&str] = &["src.sr_member", "src.sr_order"];

/// What a hostile snapshot does to the manifest the real backup wrote.
enum Lie {
    /// Edit the manifest's JSON.
    Json(fn(&mut Value, &Path)),
    /// Replace the manifest with these bytes.
    Raw(&'static [u8]),
    /// Keep the manifest; break the repository around it with this function.
    Files(fn(&Path, &Path, &Value)),
}

struct Case {
    name: &'static str,
    lie: Lie,
    /// Text every consumer's error must contain.
    expect: &'static str,
    /// The manifest passes validation: the damage is found by RESTORE's download checks
    /// (the job ends CANCELLED) and VERIFY's object checks, not by reading the manifest.
    found_by_objects: bool,
}

fn first_rowset(m: &mut Value) -> &mut Value {
    let tables = m["tables"].as_array_mut().unwrap();
    for t in tables {
        for p in t["partitions"].as_array_mut().unwrap() {
            for tablet in p["tablets"].as_array_mut().unwrap() {
                if let Some(r) = tablet["rowsets"].as_array_mut().unwrap().first_mut() {
                    return r;
                }
            }
        }
    }
    panic!("the sample snapshot has no rowset");
}

fn every_rowset(m: &mut Value, mut f: impl FnMut(&mut Value)) {
    for t in m["tables"].as_array_mut().unwrap() {
        for p in t["partitions"].as_array_mut().unwrap() {
            for tablet in p["tablets"].as_array_mut().unwrap() {
                for r in tablet["rowsets"].as_array_mut().unwrap() {
                    f(r);
                }
            }
        }
    }
}

fn cases() -> Vec<Case> {
    fn case(name: &'static str, lie: Lie, expect: &'static str) -> Case {
        Case {
            name,
            lie,
            expect,
            found_by_objects: false,
        }
    }
    vec![
        case(
            "format version 0",
            Lie::Json(|m, _| m["format_version"] = json!(0)),
            "format version 0; this backstop reads format versions 1 to 5",
        ),
        case(
            "newer format version",
            Lie::Json(|m, _| {
                // Far past any version this backstop will write.
                m["format_version"] = json!(1000);
                // A newer format may not even parse as this one.
                m.as_object_mut().unwrap().remove("tables");
            }),
            "written by a newer backstop",
        ),
        case(
            "format version not a number",
            Lie::Json(|m, _| m["format_version"] = json!("1")),
            "no valid format_version",
        ),
        case(
            "missing tables",
            Lie::Json(|m, _| {
                m.as_object_mut().unwrap().remove("tables");
            }),
            "missing field `tables`",
        ),
        case(
            "rowset without sha256",
            Lie::Json(|m, _| {
                first_rowset(m).as_object_mut().unwrap().remove("sha256");
            }),
            "missing field `sha256`",
        ),
        case(
            "not JSON",
            Lie::Raw(b"\x00\xffPAR1 this is not a manifest"),
            "cannot be read",
        ),
        case("JSON null", Lie::Raw(b"null"), "cannot be read"),
        case(
            "object key with ../ out of the repository",
            Lie::Json(|m, _| first_rowset(m)["object"] = json!("../../outside.txt")),
            "is not the key of its content",
        ),
        case(
            "absolute object key",
            Lie::Json(|m, root| {
                let outside = root.parent().unwrap().parent().unwrap().join("outside.txt");
                first_rowset(m)["object"] = json!(outside.display().to_string());
            }),
            "is not the key of its content",
        ),
        case(
            "object key outside objects/",
            Lie::Json(|m, _| first_rowset(m)["object"] = json!("repository.json")),
            "is not the key of its content",
        ),
        case(
            "object key under another prefix",
            Lie::Json(|m, _| {
                let r = first_rowset(m);
                let sha = r["sha256"].as_str().unwrap().to_string();
                r["object"] = json!(format!("objects/zz/{sha}"));
            }),
            "is not the key of its content",
        ),
        case(
            "sha256 with a path in it",
            Lie::Json(|m, _| {
                let r = first_rowset(m);
                r["sha256"] = json!("../../outside.txt");
                r["object"] = json!("objects/../../../outside.txt");
            }),
            "is not 64 lowercase hex digits",
        ),
        case(
            "size of u64::MAX",
            Lie::Json(|m, _| first_rowset(m)["size"] = json!(u64::MAX)),
            "more than the 1099511627776 a rowset may have",
        ),
        case(
            "negative size",
            Lie::Json(|m, _| first_rowset(m)["size"] = json!(-1)),
            "cannot be read",
        ),
        case(
            "row count of u64::MAX",
            Lie::Json(|m, _| first_rowset(m)["rows"] = json!(u64::MAX)),
            "rows, more than",
        ),
        case(
            "bucket count of u32::MAX",
            Lie::Json(|m, _| {
                m["tables"][0]["partitions"][0]["buckets"] = json!(u32::MAX);
            }),
            "The number of buckets must be between 1 and 1024",
        ),
        case(
            "tablet outside its buckets",
            Lie::Json(|m, _| {
                m["tables"][0]["partitions"][0]["tablets"][0]["bucket"] = json!(4000);
            }),
            "is outside its",
        ),
        case(
            "rows that do not add up",
            Lie::Json(|m, _| m["tables"][0]["partitions"][0]["rows"] = json!(999_999)),
            "declares 999999 rows",
        ),
        case(
            "table checksum that does not add up",
            Lie::Json(|m, _| m["tables"][0]["checksum"] = json!(12345)),
            "declares checksum 12345",
        ),
        case(
            "table listed twice",
            Lie::Json(|m, _| {
                let t = m["tables"][0].clone();
                m["tables"].as_array_mut().unwrap().push(t);
            }),
            "twice",
        ),
        case(
            "table name with a slash",
            Lie::Json(|m, _| m["tables"][0]["name"] = json!("../t")),
            "Incorrect table name",
        ),
        case(
            "database name with a slash",
            Lie::Json(|m, _| m["database"] = json!("../../db")),
            "bad database",
        ),
        case(
            "manifest of another label",
            Lie::Json(|m, _| m["label"] = json!("good")),
            "names label 'good'",
        ),
        case(
            "manifest of another timestamp",
            Lie::Json(|m, _| m["timestamp"] = json!("2001-01-01-00-00-00-000")),
            "names timestamp '2001-01-01-00-00-00-000'",
        ),
        case(
            "one object, two sizes",
            Lie::Json(|m, _| {
                let r = first_rowset(m).clone();
                let mut twin = r.clone();
                twin["size"] = json!(r["size"].as_u64().unwrap() + 1);
                let p = &mut m["tables"][0]["partitions"][0];
                p["tablets"][0]["rowsets"]
                    .as_array_mut()
                    .unwrap()
                    .push(twin);
                p["rows"] = json!(p["rows"].as_u64().unwrap() + r["rows"].as_u64().unwrap());
                let t = &mut m["tables"][0];
                t["rows"] = json!(t["rows"].as_u64().unwrap() + r["rows"].as_u64().unwrap());
                t["checksum"] = json!(
                    t["checksum"]
                        .as_u64()
                        .unwrap()
                        .wrapping_add(r["checksum"].as_u64().unwrap())
                );
            }),
            "two sizes",
        ),
        case(
            "COMMIT that is not JSON",
            Lie::Files(|root, dir, _| {
                std::fs::write(dir.join("COMMIT"), b"{\"manifest_sha256\": 7").unwrap();
                let _ = root;
            }),
            "its COMMIT cannot be read",
        ),
        case(
            "COMMIT of 1 GiB (sparse)",
            Lie::Files(|_, dir, _| {
                let f = std::fs::File::create(dir.join("COMMIT")).unwrap();
                f.set_len(1 << 30).unwrap();
            }),
            "its COMMIT has 1073741824 bytes",
        ),
        case(
            "manifest of 300 GiB (sparse)",
            Lie::Files(|_, dir, _| {
                let f = std::fs::File::create(dir.join("manifest.json")).unwrap();
                f.set_len(300 << 30).unwrap();
            }),
            "its manifest has 322122547200 bytes",
        ),
        Case {
            name: "object one byte longer than declared",
            lie: Lie::Json(|m, _| {
                let r = first_rowset(m);
                r["size"] = json!(r["size"].as_u64().unwrap() - 1);
            }),
            expect: "bytes",
            found_by_objects: true,
        },
        Case {
            name: "object whose bytes do not match its sha256",
            // A valid key and size, but the object there holds another rowset's bytes.
            lie: Lie::Json(|m, root| {
                let r = first_rowset(m);
                let real = root.join(r["object"].as_str().unwrap());
                let fake = "ab".repeat(32);
                let key = format!("objects/ab/{fake}");
                std::fs::create_dir_all(root.join("objects/ab")).unwrap();
                std::fs::copy(&real, root.join(&key)).unwrap();
                r["sha256"] = json!(fake);
                r["object"] = json!(key);
            }),
            expect: "sha256",
            found_by_objects: true,
        },
        Case {
            name: "objects that are missing",
            lie: Lie::Json(|m, _| {
                let fake = "cd".repeat(32);
                let r = first_rowset(m);
                r["sha256"] = json!(fake);
                r["object"] = json!(format!("objects/cd/{fake}"));
            }),
            expect: "missing",
            found_by_objects: true,
        },
        Case {
            name: "huge declared sizes (the free-space check refuses)",
            // 1 TiB per rowset: within a rowset's bound, far beyond the disk.
            lie: Lie::Json(|m, _| every_rowset(m, |r| r["size"] = json!(1u64 << 40))),
            expect: "not enough disk space",
            found_by_objects: true,
        },
    ]
}

/// Writes `manifest` and a COMMIT naming its sha256 as snapshot `label/ts`.
fn plant(root: &Path, label: &str, ts: &str, manifest: &[u8]) -> PathBuf {
    let dir = root.join("snapshots").join(label).join(ts);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    let commit = json!({
        "manifest_sha256": backstop::repo::manifest::sha256_hex(manifest),
        "finished_ms": 1,
    });
    std::fs::write(dir.join("COMMIT"), commit.to_string()).unwrap();
    dir
}

/// What must not change: the tables, the databases, the data files, and the sentinel file
/// beside the repository.
#[derive(Debug, PartialEq)]
struct World {
    prints: Prints,
    databases: Vec<Vec<Option<String>>>,
    data_files: usize,
    outside: String,
}

async fn world(daemon: &TestDaemon, conn: &mut Conn, outside: &Path) -> World {
    World {
        prints: fingerprint(conn, TABLES).await,
        databases: rows(conn, "SHOW DATABASES").await,
        data_files: data_files(daemon),
        outside: std::fs::read_to_string(outside).unwrap(),
    }
}

/// A statement that must fail, or start a job that must end CANCELLED: the error text.
async fn failure(conn: &mut Conn, sql: &str, db: &str) -> String {
    match conn.query_drop(sql).await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 5064, "{sql}: {e:?}");
            e.message
        }
        Err(e) => panic!("{sql}: not a server error: {e}"),
        Ok(()) => {
            let r = wait_done(conn, "RESTORE", db).await;
            assert_eq!(r.get("State"), "CANCELLED", "{sql}: {r:?}");
            r.get("Status").to_string()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_manifests_give_clear_errors_and_change_nothing() {
    let mut daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    load_sample(&mut conn, "src").await;
    let root = scratch_repo(&daemon, &mut conn, "repo").await;
    let ts = backup(&mut conn, "src", "good", "repo", "").await;
    let good_dir = root.join("snapshots/good").join(&ts);
    let good: Value =
        serde_json::from_slice(&std::fs::read(good_dir.join("manifest.json")).unwrap()).unwrap();
    // A file beside the repository that no key may reach: <scratch>/outside.txt.
    let outside = root.parent().unwrap().parent().unwrap().join("outside.txt");
    std::fs::write(&outside, "not the repository's").unwrap();
    let before = world(&daemon, &mut conn, &outside).await;

    let cases = cases();
    for (i, case) in cases.iter().enumerate() {
        let label = format!("lie{i}");
        let mut manifest = good.clone();
        manifest["label"] = json!(label);
        let dir = match &case.lie {
            Lie::Json(edit) => {
                edit(&mut manifest, &root);
                plant(&root, &label, &ts, &serde_json::to_vec(&manifest).unwrap())
            }
            Lie::Raw(bytes) => plant(&root, &label, &ts, bytes),
            Lie::Files(edit) => {
                let dir = plant(&root, &label, &ts, &serde_json::to_vec(&manifest).unwrap());
                edit(&root, &dir, &manifest);
                dir
            }
        };
        let ctx = format!("case {i} ({})", case.name);
        let check = |what: &str, text: &str| {
            assert!(
                text.contains(case.expect),
                "{ctx}: {what} should say {:?}: {text}",
                case.expect
            );
        };

        // SHOW SNAPSHOT with the timestamp: the manifest is read and judged.
        let shown = named_rows(
            &mut conn,
            &format!("SHOW SNAPSHOT ON repo WHERE SNAPSHOT = '{label}' AND TIMESTAMP = '{ts}'"),
        )
        .await;
        let status = shown[0].get("Status");
        if case.found_by_objects {
            assert_eq!(status, "OK", "{ctx}: {shown:?}");
        } else {
            assert!(
                status.starts_with("Failed to get info: "),
                "{ctx}: {status}"
            );
            check("SHOW SNAPSHOT", status);
        }

        // RESTORE over the existing tables: refused, or a job that ends CANCELLED.
        let sql = restore_sql("src", &label, "repo", "", &ts);
        let text = failure(&mut conn, &sql, "src").await;
        check("RESTORE", &text);

        // VERIFY SNAPSHOT: the job finishes DAMAGED and says why (bounded: no 1 TiB reads).
        if case.expect != "not enough disk space" {
            let verified = named_rows(
                &mut conn,
                &format!(
                    "VERIFY SNAPSHOT {label} ON repo WHERE TIMESTAMP = '{ts}' \
                     PROPERTIES (\"sync\" = \"true\", \"mode\" = \"full\")"
                ),
            )
            .await;
            let status = verified[0].get("Status");
            assert_eq!(verified[0].get("State"), "FINISHED", "{ctx}: {verified:?}");
            assert!(status.starts_with("[DAMAGED, msg: "), "{ctx}: {status}");
            check("VERIFY SNAPSHOT", status);
        }

        // Nothing changed, and the daemon still serves.
        assert_eq!(world(&daemon, &mut conn, &outside).await, before, "{ctx}");
        daemon.assert_alive(&ctx);

        // DROP SNAPSHOT: without FORCE a snapshot whose manifest cannot be read is refused
        // (its creator is unknown); FORCE drops it and nothing else.
        if !case.found_by_objects {
            let drop = format!("DROP SNAPSHOT {label} ON repo WHERE TIMESTAMP = '{ts}'");
            let err = common::server_err(&mut conn, &drop).await;
            assert_eq!(err.0, 5064, "{ctx}: {err:?}");
            assert!(err.2.contains("add FORCE to drop it"), "{ctx}: {err:?}");
            check("DROP SNAPSHOT", &err.2);
            exec(&mut conn, &format!("{drop} FORCE")).await;
        } else {
            exec(
                &mut conn,
                &format!("DROP SNAPSHOT {label} ON repo WHERE TIMESTAMP = '{ts}'"),
            )
            .await;
        }
        assert!(
            !dir.exists(),
            "{ctx}: the dropped snapshot's folder is gone"
        );
        assert_eq!(world(&daemon, &mut conn, &outside).await, before, "{ctx}");
        println!("hostile repository: {ctx}: refused everywhere");
    }

    // The good snapshot survived every drop next to it and restores bit-exact.
    exec(&mut conn, "DROP DATABASE src").await;
    exec(&mut conn, &restore_sql("src", "good", "repo", "", &ts)).await;
    common::backup::wait_finished(&mut conn, "RESTORE", "src").await;
    assert_eq!(fingerprint(&mut conn, TABLES).await, before.prints);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        before.outside,
        "the file outside the repository"
    );
    println!(
        "hostile repository: {} lying snapshots refused by SHOW SNAPSHOT, RESTORE, VERIFY and DROP",
        cases.len()
    );
}

#[tokio::test]
async fn odd_labels_and_timestamps_name_no_snapshot_and_no_path() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    load_sample(&mut conn, "src").await;
    let root = scratch_repo(&daemon, &mut conn, "repo").await;
    let ts = backup(&mut conn, "src", "good", "repo", "").await;
    // A snapshot folder one level above the repository: `../` labels must not reach it.
    let above = root
        .parent()
        .unwrap()
        .join("snapshots")
        .join("escaped")
        .join(&ts);
    std::fs::create_dir_all(&above).unwrap();
    let manifest =
        std::fs::read(root.join("snapshots/good").join(&ts).join("manifest.json")).unwrap();
    plant(root.parent().unwrap(), "escaped", &ts, &manifest);
    let files_before = files_under(&root);

    for label in ["../escaped", "..", ".", "a\\b", "bad\tlabel"] {
        let shown = named_rows(
            &mut conn,
            &format!(
                "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = '{}'",
                label.replace('\\', "\\\\")
            ),
        )
        .await;
        assert_eq!(shown.len(), 1, "{label}: {shown:?}");
        assert_eq!(shown[0].get("Status"), "ERROR: no snapshot", "{label}");
        let quoted = format!("`{label}`");
        for sql in [
            restore_sql("src", &quoted, "repo", "", &ts),
            format!("DROP SNAPSHOT {quoted} ON repo FORCE"),
            format!("BACKUP SNAPSHOT src.{quoted} TO repo"),
        ] {
            let (code, _, msg) = common::server_err(&mut conn, &sql).await;
            assert_eq!(code, 5064, "{sql}: {msg}");
            assert!(msg.contains("Incorrect label name"), "{sql}: {msg}");
        }
    }
    // Timestamps that are paths, not timestamps.
    for bad_ts in ["../../escaped", "/etc", "2026-01-01-00-00-00-000/../.."] {
        let (code, _, msg) =
            common::server_err(&mut conn, &restore_sql("src", "good", "repo", "", bad_ts)).await;
        assert_eq!(code, 5064, "{bad_ts}: {msg}");
        assert!(
            msg.contains("no snapshot 'good' with timestamp"),
            "{bad_ts}: {msg}"
        );
    }
    // A label backed up twice is two timestamps of one label (a duplicate is not an error).
    let again = backup(&mut conn, "src", "good", "repo", "").await;
    assert_ne!(again, ts);
    let shown = named_rows(&mut conn, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'good'").await;
    assert_eq!(shown[0].get("Status"), "OK");
    assert_eq!(shown[0].get("Timestamp").lines().count(), 2);
    // Nothing was written or deleted above the repository, nothing outside the new backup.
    assert!(above.join("COMMIT").exists());
    let files_after = files_under(&root);
    assert!(files_before.iter().all(|f| files_after.contains(f)));
}
