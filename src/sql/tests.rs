//! Parser tests: every grammar form of `shared/reference/statements.md` and our DDL, the error
//! texts, and properties (no panics on any input; Display → parse gives the same AST).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

/// Parse `sql` (one statement), check that it prints back exactly as `sql` (canonical input),
/// and that the printed text parses to the same AST.
#[track_caller]
fn verified_stmt(sql: &str) -> Statement {
    let stmt = round_trip(sql);
    assert_eq!(
        stmt.to_string(),
        sql.trim_end_matches(';'),
        "canonical text"
    );
    stmt
}

/// Parse `sql` and check Display → parse gives an equal AST (for non-canonical input).
#[track_caller]
fn round_trip(sql: &str) -> Statement {
    let stmt = parse_one(sql).unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"));
    assert_round_trip(&stmt);
    stmt
}

#[track_caller]
fn assert_round_trip(stmt: &Statement) {
    let printed = stmt.to_string();
    let again = parse_one(&printed).unwrap_or_else(|e| panic!("printed {printed}\n  failed: {e}"));
    assert_eq!(&again, stmt, "printed: {printed}");
    assert_eq!(again.to_string(), printed, "Display is stable");
    let pretty = format!("{stmt:#}");
    let again = parse_one(&pretty).unwrap_or_else(|e| panic!("pretty {pretty}\n  failed: {e}"));
    assert_eq!(&again, stmt, "pretty: {pretty}");
}

#[track_caller]
fn parse_err(sql: &str) -> ParseError {
    match parse(sql) {
        Ok(s) => panic!("{sql}\n  parsed, expected an error: {s:?}"),
        Err(e) => e,
    }
}

/// Assert the error message (without location).
#[track_caller]
fn assert_err(sql: &str, message: &str) {
    let e = parse_err(sql);
    assert_eq!(e.message, message, "for {sql}");
}

fn id(s: &str) -> Ident {
    Ident::new(s)
}

fn name(parts: &[&str]) -> ObjectName {
    ObjectName::from(parts.iter().map(|p| Ident::new(*p)).collect::<Vec<_>>())
}

fn props(pairs: &[(&str, &str)]) -> Properties {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn table(parts: &[&str]) -> BackupObject {
    BackupObject::Named {
        kind: None,
        object: TableRef {
            name: name(parts),
            partitions: vec![],
            temporary: false,
            alias: None,
        },
    }
}

// ---- the reference's verbatim examples -----------------------------------------------------

#[test]
fn example_create_repository() {
    let sql = r#"CREATE REPOSITORY test_repo WITH BROKER ON LOCATION "s3a://bucket_s3/backup" PROPERTIES ("aws.s3.use_instance_profile" = "true", "aws.s3.region" = "us-west-2");"#;
    let stmt = verified_stmt(sql);
    assert_eq!(
        stmt,
        Statement::CreateRepository(CreateRepository {
            read_only: false,
            name: id("test_repo"),
            broker: Some(Broker::Direct),
            location: "s3a://bucket_s3/backup".into(),
            properties: props(&[
                ("aws.s3.use_instance_profile", "true"),
                ("aws.s3.region", "us-west-2")
            ]),
        })
    );
}

#[test]
fn example_backup() {
    let stmt =
        verified_stmt("BACKUP SNAPSHOT sr_hub.sr_member_backup TO test_repo ON (sr_member);");
    assert_eq!(
        stmt,
        Statement::BackupSnapshot(BackupSnapshot {
            catalogs: None,
            db: Some(id("sr_hub")),
            label: id("sr_member_backup"),
            repo: id("test_repo"),
            on: vec![table(&["sr_member"])],
            properties: vec![],
        })
    );
}

#[test]
fn example_show_snapshot() {
    let stmt = verified_stmt("SHOW SNAPSHOT ON test_repo;");
    assert_eq!(
        stmt,
        Statement::ShowSnapshot(ShowSnapshot {
            repo: id("test_repo"),
            filter: None
        })
    );
}

#[test]
fn example_restore() {
    let sql = r#"RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member) PROPERTIES ("backup_timestamp" = "2023-02-07-14-45-53-143", "replication_num" = "1");"#;
    let stmt = verified_stmt(sql);
    assert_eq!(
        stmt,
        Statement::RestoreSnapshot(RestoreSnapshot {
            db: Some(id("sr_hub")),
            label: id("sr_member_backup"),
            repo: id("test_repo"),
            catalogs: None,
            database: None,
            on: vec![table(&["sr_member"])],
            properties: props(&[
                ("backup_timestamp", "2023-02-07-14-45-53-143"),
                ("replication_num", "1")
            ]),
        })
    );
}

// ---- repositories --------------------------------------------------------------------------

#[test]
fn create_repository_forms() {
    let Statement::CreateRepository(r) =
        verified_stmt(r#"CREATE READ ONLY REPOSITORY r ON LOCATION "file:///tmp/r""#)
    else {
        panic!()
    };
    assert!(r.read_only);
    assert_eq!(r.broker, None);
    assert_eq!(r.location, "file:///tmp/r");

    let Statement::CreateRepository(r) =
        round_trip("create repository `my repo` with broker my_broker on location 's3://b/p/'")
    else {
        panic!()
    };
    assert_eq!(r.name, Ident::with_quote('`', "my repo"));
    assert_eq!(r.broker, Some(Broker::Named("my_broker".into())));
    // The location is kept verbatim, trailing slash and scheme included.
    assert_eq!(r.location, "s3://b/p/");

    let Statement::CreateRepository(r) =
        round_trip(r#"CREATE REPOSITORY r WITH BROKER "hdfs_broker" ON LOCATION "hdfs://h/p""#)
    else {
        panic!()
    };
    assert_eq!(r.broker, Some(Broker::Named("hdfs_broker".into())));
    // Escapes in strings are undone, and printed back so they read the same.
    let Statement::CreateRepository(r) = round_trip(
        r#"CREATE REPOSITORY r ON LOCATION "s3://b" PROPERTIES ('aws.s3.secret_key' = 'a\'b"c\\d')"#,
    ) else {
        panic!()
    };
    assert_eq!(r.properties, props(&[("aws.s3.secret_key", "a'b\"c\\d")]));
    verified_stmt("DROP REPOSITORY test_repo");
}

#[test]
fn create_repository_errors() {
    assert_err(
        "CREATE REPOSITORY r WITH BROKER",
        "Expected: broker name or ON LOCATION, found: EOF",
    );
    assert_err(
        r#"CREATE REPOSITORY r ON "s3://x""#,
        r#"Expected: LOCATION, found: "s3://x""#,
    );
    assert_err(
        r#"CREATE REPOSITORY r "s3://x""#,
        r#"Expected: WITH BROKER or ON LOCATION, found: "s3://x""#,
    );
    assert_err(
        "CREATE REPOSITORY r ON LOCATION s3a",
        "Expected: repository location (a string literal), found: s3a",
    );
    assert_err(
        r#"CREATE REPOSITORY r ON LOCATION "s3://x" PROPERTIES ("a" = "b""#,
        "Expected: , or ), found: EOF",
    );
    assert_err(
        r#"CREATE REPOSITORY r ON LOCATION "s3://x" PROPERTIES ("a" = "#,
        "Expected: property value (a string literal), found: EOF",
    );
    assert_err(
        r#"CREATE REPOSITORY r ON LOCATION "s3://x" PROPERTIES ("a" "b")"#,
        r#"Expected: =, found: "b""#,
    );
    assert_err(
        r#"CREATE REPOSITORY r ON LOCATION "s3://x" PROPERTIES (a = "b")"#,
        "Expected: property key (a string literal), found: a",
    );
    assert_err(
        r#"CREATE REPOSITORY r ON LOCATION "s3://x" PROPERTIES ()"#,
        "Expected: property key (a string literal), found: )",
    );
    let e = parse_err(
        r#"CREATE REPOSITORY r ON LOCATION "s3://x" PROPERTIES ("k" = "1", "K" = "2", "k" = "3")"#,
    );
    assert_eq!(
        e.message,
        "Duplicate property key 'k' in PROPERTIES; give each property once"
    );
    assert_eq!((e.line, e.column), (1, 76));
    assert_err(
        r#"CREATE REPOSITORY ON LOCATION "s3://x""#,
        "Expected: repository name, found: ON (a reserved word; quote it with backticks to use it as a name)",
    );
    assert_err("DROP REPOSITORY", "Expected: repository name, found: EOF");
    assert_err(
        "DROP REPOSITORY a b",
        "Expected: end of statement, found: b",
    );
}

#[test]
fn property_keys_keep_case_and_order() {
    let Statement::CreateRepository(r) = round_trip(
        r#"CREATE REPOSITORY r ON LOCATION "s3://x" PROPERTIES ("B" = "1", "a" = "2", "b" = "3")"#,
    ) else {
        panic!()
    };
    assert_eq!(r.properties, props(&[("B", "1"), ("a", "2"), ("b", "3")]));
    assert_eq!(property(&r.properties, "b"), Some("3"));
    assert_eq!(property(&r.properties, "A"), None);
}

// ---- BACKUP --------------------------------------------------------------------------------

#[test]
fn backup_legacy_forms() {
    let Statement::BackupSnapshot(b) = verified_stmt("BACKUP SNAPSHOT s TO repo ON (t0, t1)")
    else {
        panic!()
    };
    assert_eq!(b.db, None);
    assert_eq!(b.on, vec![table(&["t0"]), table(&["t1"])]);

    let Statement::BackupSnapshot(b) = verified_stmt("BACKUP SNAPSHOT s TO repo") else {
        panic!()
    };
    assert!(b.on.is_empty());

    let Statement::BackupSnapshot(b) = verified_stmt(
        r#"BACKUP SNAPSHOT db.s TO repo ON (t1 PARTITION (p1, p2), db.t2 TEMPORARY PARTITION (tp)) PROPERTIES ("type" = "full", "timeout" = "3600")"#,
    ) else {
        panic!()
    };
    assert_eq!(
        b.on,
        vec![
            BackupObject::Named {
                kind: None,
                object: TableRef {
                    name: name(&["t1"]),
                    partitions: vec![id("p1"), id("p2")],
                    temporary: false,
                    alias: None
                },
            },
            BackupObject::Named {
                kind: None,
                object: TableRef {
                    name: name(&["db", "t2"]),
                    partitions: vec![id("tp")],
                    temporary: true,
                    alias: None
                },
            },
        ]
    );
    assert_eq!(property(&b.properties, "timeout"), Some("3600"));

    // PARTITIONS, a single unparenthesized partition, and string partition names.
    let Statement::BackupSnapshot(b) =
        round_trip(r#"backup snapshot s to repo on (t PARTITIONS p1, u partition ("p-2"))"#)
    else {
        panic!()
    };
    let parts: Vec<_> =
        b.on.iter()
            .map(|o| match o {
                BackupObject::Named { object, .. } => object.partitions.clone(),
                BackupObject::All(_) => vec![],
            })
            .collect();
    assert_eq!(
        parts,
        vec![vec![id("p1")], vec![Ident::with_quote('`', "p-2")]]
    );
}

#[test]
fn backup_v34_forms() {
    let Statement::BackupSnapshot(b) = round_trip("BACKUP DATABASE sr_hub SNAPSHOT s TO repo")
    else {
        panic!()
    };
    assert_eq!(b.db, Some(id("sr_hub")));
    assert_eq!(b.to_string(), "BACKUP SNAPSHOT sr_hub.s TO repo");

    let Statement::BackupSnapshot(b) = verified_stmt(
        "BACKUP SNAPSHOT d.s TO r ON (TABLE t1 PARTITION (p1), ALL TABLES, MATERIALIZED VIEW m, ALL MATERIALIZED VIEWS, \
         VIEW v, ALL VIEWS, FUNCTION f, ALL FUNCTIONS)",
    ) else {
        panic!()
    };
    let kinds: Vec<_> =
        b.on.iter()
            .map(|o| match o {
                BackupObject::Named { kind, .. } => (*kind, false),
                BackupObject::All(kind) => (Some(*kind), true),
            })
            .collect();
    use ObjectKind::*;
    assert_eq!(
        kinds,
        vec![
            (Some(Table), false),
            (Some(Table), true),
            (Some(MaterializedView), false),
            (Some(MaterializedView), true),
            (Some(View), false),
            (Some(View), true),
            (Some(Function), false),
            (Some(Function), true),
        ]
    );
    // Plural spellings are the same objects.
    let plural = round_trip(
        "BACKUP DATABASE d SNAPSHOT s TO r ON (TABLES t1 PARTITION (p1), ALL TABLE, MATERIALIZED VIEWS m, \
         ALL MATERIALIZED VIEW, VIEWS v, ALL VIEW, FUNCTIONS f, ALL FUNCTION)",
    );
    assert_eq!(plural, Statement::BackupSnapshot(b));

    // A kind word followed by no name is a table of that name.
    let Statement::BackupSnapshot(b) = round_trip("BACKUP SNAPSHOT s TO r ON (view, tables)")
    else {
        panic!()
    };
    assert_eq!(b.on, vec![table(&["view"]), table(&["tables"])]);

    let Statement::BackupSnapshot(b) =
        verified_stmt("BACKUP ALL EXTERNAL CATALOGS SNAPSHOT s TO r")
    else {
        panic!()
    };
    assert_eq!(b.catalogs, Some(ExternalCatalogs::All));
    let Statement::BackupSnapshot(b) =
        round_trip("BACKUP EXTERNAL CATALOG (c1, c2) SNAPSHOT s TO r")
    else {
        panic!()
    };
    assert_eq!(
        b.catalogs,
        Some(ExternalCatalogs::Named(vec![
            (id("c1"), None),
            (id("c2"), None)
        ]))
    );
}

#[test]
fn backup_errors() {
    assert_err("BACKUP SNAPSHOT s ON (t)", "Expected: TO, found: ON");
    assert_err("BACKUP SNAPSHOT s", "Expected: TO, found: EOF");
    assert_err(
        "BACKUP s TO r",
        "Expected: SNAPSHOT, DATABASE or EXTERNAL CATALOG, found: s",
    );
    let e = parse_err("BACKUP DATABASE db SNAPSHOT db.s TO r");
    assert_eq!(
        e.message,
        "Specifying dbName before snapshot name is forbidden if the DbName is specified explicitly in BACKUP/RESTORE"
    );
    assert_eq!((e.line, e.column), (1, 29));
    let e = parse_err("BACKUP SNAPSHOT s TO r ON (t1 AS t2)");
    assert_eq!(
        e.message,
        "Specifying alias for backup object is forbidden in BACKUP stmt"
    );
    assert_eq!((e.line, e.column), (1, 31));
    assert_err(
        "BACKUP SNAPSHOT s TO r ON ()",
        "Expected: table name, found: )",
    );
    assert_err(
        "BACKUP SNAPSHOT s TO r ON (t",
        "Expected: , or ), found: EOF",
    );
    assert_err("BACKUP SNAPSHOT s TO r ON t", "Expected: (, found: t");
    assert_err(
        "BACKUP SNAPSHOT s TO r ON (ALL t)",
        "Expected: TABLES, MATERIALIZED VIEWS, VIEWS or FUNCTIONS after ALL, found: t",
    );
    assert_err(
        "BACKUP SNAPSHOT s TO r ON (t TEMPORARY (p))",
        "Expected: PARTITION or PARTITIONS, found: (",
    );
    assert_err(
        "BACKUP SNAPSHOT a.b.c TO r",
        "Expected: snapshot name as `name` or `db.name`, found a third name part",
    );
    assert_err(
        "BACKUP SNAPSHOT s TO r PROPERTIES",
        "Expected: (, found: EOF",
    );
    assert_err(
        r#"BACKUP SNAPSHOT s TO r PROPERTIES ("type" = "full", "type" = "full")"#,
        "Duplicate property key 'type' in PROPERTIES; give each property once",
    );
    assert_err(
        "BACKUP SNAPSHOT s TO r ON (VIEW v PARTITION (p))",
        "Expected: , or ), found: PARTITION",
    );
}

// ---- RESTORE -------------------------------------------------------------------------------

#[test]
fn restore_forms() {
    let Statement::RestoreSnapshot(r) = verified_stmt(
        r#"RESTORE SNAPSHOT s FROM r DATABASE src AS tgt ON (TABLE t1 PARTITION (p1) AS t2, t3 AS t4, VIEW v AS v2) PROPERTIES ("backup_timestamp" = "2024-01-01-00-00-00-000")"#,
    ) else {
        panic!()
    };
    assert_eq!(
        r.database,
        Some(RestoreDatabase {
            source: id("src"),
            target: Some(id("tgt"))
        })
    );
    assert_eq!(r.target_db(), Some(&id("tgt")));
    let BackupObject::Named { object, .. } = &r.on[0] else {
        panic!()
    };
    assert_eq!(object.alias, Some(id("t2")));
    assert_eq!(object.partitions, vec![id("p1")]);

    let Statement::RestoreSnapshot(r) = verified_stmt("RESTORE SNAPSHOT s FROM r DATABASE src")
    else {
        panic!()
    };
    assert_eq!(r.target_db(), Some(&id("src")));
    let Statement::RestoreSnapshot(r) = verified_stmt("RESTORE SNAPSHOT s FROM r") else {
        panic!()
    };
    assert_eq!(r.target_db(), None);
    let Statement::RestoreSnapshot(r) = verified_stmt("RESTORE SNAPSHOT d.s FROM r") else {
        panic!()
    };
    assert_eq!(r.target_db(), Some(&id("d")));
    let Statement::RestoreSnapshot(r) =
        verified_stmt("RESTORE SNAPSHOT s FROM r EXTERNAL CATALOGS (c1 AS c2, c3)")
    else {
        panic!()
    };
    assert_eq!(
        r.catalogs,
        Some(ExternalCatalogs::Named(vec![
            (id("c1"), Some(id("c2"))),
            (id("c3"), None)
        ]))
    );
    verified_stmt("RESTORE SNAPSHOT s FROM r ALL EXTERNAL CATALOGS");
}

#[test]
fn restore_errors() {
    assert_err("RESTORE SNAPSHOT d.s TO r", "Expected: FROM, found: TO");
    assert_err(
        "RESTORE SNAPSHOT d.s FROM r DATABASE d",
        "Specifying dbName before snapshot name is forbidden if the DbName is specified explicitly in BACKUP/RESTORE",
    );
    let e = parse_err("RESTORE SNAPSHOT s FROM r ON (t)");
    assert_eq!(
        e.message,
        "`ON` clause is forbidden if no Database explicitly specified in Restore stmt"
    );
    assert_eq!((e.line, e.column), (1, 27));
    assert_err(
        "RESTORE SNAPSHOT s FROM r DATABASE src AS",
        "Expected: target database name, found: EOF",
    );
    assert_err("RESTORE s FROM r", "Expected: SNAPSHOT, found: s");
}

// ---- SHOW / CANCEL -------------------------------------------------------------------------

#[test]
fn show_snapshot_filters() {
    let Statement::ShowSnapshot(s) = verified_stmt(
        r#"SHOW SNAPSHOT ON r WHERE SNAPSHOT = "s1" AND TIMESTAMP = "2018-04-18-19-19-10""#,
    ) else {
        panic!()
    };
    let expected = Some(SnapshotFilter::Snapshot {
        label: "s1".into(),
        timestamp: Some("2018-04-18-19-19-10".into()),
    });
    assert_eq!(s.filter, expected);
    // Either order, either quote.
    let Statement::ShowSnapshot(s) = round_trip(
        "show snapshot on r where timestamp = '2018-04-18-19-19-10' and snapshot = 's1'",
    ) else {
        panic!()
    };
    assert_eq!(s.filter, expected);
    let Statement::ShowSnapshot(s) = round_trip("SHOW SNAPSHOT ON r WHERE SNAPSHOT = 's1'") else {
        panic!()
    };
    assert_eq!(
        s.filter,
        Some(SnapshotFilter::Snapshot {
            label: "s1".into(),
            timestamp: None
        })
    );
    let Statement::ShowSnapshot(s) =
        verified_stmt(r#"SHOW SNAPSHOT ON r WHERE SNAPSHOT IN ("a", "b")"#)
    else {
        panic!()
    };
    assert_eq!(
        s.filter,
        Some(SnapshotFilter::SnapshotIn(vec!["a".into(), "b".into()]))
    );
}

#[test]
fn show_snapshot_errors() {
    const SHAPE: &str = "Where clause should looks like: SNAPSHOT = 'your_snapshot_name' [AND TIMESTAMP = '2018-04-18-19-19-10']";
    let e = parse_err("SHOW SNAPSHOT ON r WHERE TIMESTAMP = 'x'");
    assert_eq!(e.message, SHAPE);
    assert_eq!((e.line, e.column), (1, 26));
    assert_err("SHOW SNAPSHOT ON r WHERE SNAPSHOT = 1", SHAPE);
    assert_err("SHOW SNAPSHOT ON r WHERE SNAPSHOT LIKE 'x%'", SHAPE);
    assert_err("SHOW SNAPSHOT ON r WHERE label = 'x'", SHAPE);
    assert_err(
        "SHOW SNAPSHOT ON r WHERE SNAPSHOT = 'a' AND SNAPSHOT = 'b'",
        SHAPE,
    );
    assert_err(
        "SHOW SNAPSHOT ON r WHERE SNAPSHOT = 'a' OR TIMESTAMP = 'b'",
        "Expected: end of statement, found: OR",
    );
    assert_err(
        "SHOW SNAPSHOT ON r WHERE SNAPSHOT IN ('a') AND TIMESTAMP = 'x'",
        SHAPE,
    );
    assert_err(
        "SHOW SNAPSHOT ON r WHERE TIMESTAMP IN ('a')",
        "Left expr of should be snapshot",
    );
    assert_err(
        "SHOW SNAPSHOT ON r WHERE SNAPSHOT IN ('a', 1)",
        "Child of in predicate should be string value",
    );
    assert_err("SHOW SNAPSHOT ON r WHERE", SHAPE);
    assert_err("SHOW SNAPSHOT r", "Expected: ON, found: r");
    assert_err("SHOW SNAPSHOT ON", "Expected: repository name, found: EOF");
}

#[test]
fn show_jobs_and_friends() {
    assert_eq!(
        verified_stmt("SHOW REPOSITORIES"),
        Statement::ShowRepositories
    );
    assert_eq!(
        verified_stmt("SHOW BACKUP"),
        Statement::ShowBackup(ShowJobs {
            db: None,
            filter: None
        })
    );
    let in_form = round_trip("show backup in sr_hub");
    assert_eq!(in_form, verified_stmt("SHOW BACKUP FROM sr_hub"));
    let Statement::ShowRestore(s) =
        verified_stmt("SHOW RESTORE FROM db WHERE Label = 'x' AND State <> 'FINISHED'")
    else {
        panic!()
    };
    assert_eq!(s.db, Some(id("db")));
    assert!(s.filter.is_some());
    verified_stmt("SHOW RESTORE");
    assert_eq!(
        verified_stmt("SHOW PARTITIONS FROM db.t"),
        Statement::ShowPartitions(name(&["db", "t"]))
    );
    assert_eq!(
        verified_stmt("SHOW TABLET FROM t"),
        Statement::ShowTablet(name(&["t"]))
    );
    assert_eq!(
        round_trip("SHOW TABLETS FROM t"),
        Statement::ShowTablet(name(&["t"]))
    );
    assert_eq!(
        verified_stmt("ALTER TABLE db.t COMPACT"),
        Statement::CompactTable(CompactTable {
            table: name(&["db", "t"]),
            base: false,
            partitions: vec![],
        })
    );
    assert_eq!(
        verified_stmt("ALTER TABLE t BASE COMPACT (p1, p2)"),
        Statement::CompactTable(CompactTable {
            table: name(&["t"]),
            base: true,
            partitions: vec![id("p1"), id("p2")],
        })
    );
    assert_eq!(
        round_trip("ALTER TABLE t CUMULATIVE COMPACT p1"),
        Statement::CompactTable(CompactTable {
            table: name(&["t"]),
            base: false,
            partitions: vec![id("p1")],
        })
    );
    assert_err(
        "SHOW TEMPORARY PARTITIONS FROM t",
        "SHOW TEMPORARY PARTITIONS is not supported: backstop has no temporary partitions (use SHOW PARTITIONS)",
    );
    assert_err("SHOW PARTITIONS t", "Expected: FROM, found: t");
    assert_err("SHOW BACKUP FROM", "Expected: database name, found: EOF");
    // Other SHOW statements are sqlparser's.
    assert!(matches!(round_trip("SHOW TABLES"), Statement::Std(_)));
    assert!(matches!(round_trip("SHOW DATABASES"), Statement::Std(_)));
}

#[test]
fn cancel() {
    assert_eq!(
        verified_stmt("CANCEL BACKUP FROM db"),
        Statement::CancelBackup(CancelJob {
            target: JobTarget::Database(id("db"))
        })
    );
    assert_eq!(
        round_trip("cancel restore in db"),
        Statement::CancelRestore(CancelJob {
            target: JobTarget::Database(id("db"))
        })
    );
    assert_eq!(
        verified_stmt("CANCEL RESTORE FOR EXTERNAL CATALOG"),
        Statement::CancelRestore(CancelJob {
            target: JobTarget::ExternalCatalog
        })
    );
    assert_err(
        "CANCEL BACKUP",
        "No selected database for cancel BACKUP/RESTORE",
    );
    assert_err(
        "CANCEL BACKUP;",
        "No selected database for cancel BACKUP/RESTORE",
    );
    assert_err(
        "CANCEL BACKUP db",
        "Expected: FROM <database>, IN <database> or FOR EXTERNAL CATALOG, found: db",
    );
}

// ---- DROP / VERIFY SNAPSHOT ----------------------------------------------------------------

#[test]
fn drop_snapshot() {
    let Statement::DropSnapshot(d) = verified_stmt("DROP SNAPSHOT s ON r") else {
        panic!()
    };
    assert_eq!(
        (d.label.value.as_str(), d.repo.value.as_str(), d.force),
        ("s", "r", false)
    );
    assert_eq!(d.timestamp, None);
    let Statement::DropSnapshot(d) =
        verified_stmt(r#"DROP SNAPSHOT s ON r WHERE TIMESTAMP = "2024-01-01-00-00-00-000" FORCE"#)
    else {
        panic!()
    };
    assert_eq!(
        d.timestamp,
        Some(TimestampFilter::Eq("2024-01-01-00-00-00-000".into()))
    );
    assert!(d.force);
    let Statement::DropSnapshot(d) = round_trip(
        r#"drop snapshot s on r where timestamp <= '2024-01-01-00-00-00-000' properties ("dry_run" = "true")"#,
    ) else {
        panic!()
    };
    assert_eq!(
        d.timestamp,
        Some(TimestampFilter::AtOrBefore(
            "2024-01-01-00-00-00-000".into()
        ))
    );
    assert_eq!(d.properties, props(&[("dry_run", "true")]));
    verified_stmt(r#"DROP SNAPSHOT s ON r FORCE PROPERTIES ("a" = "b")"#);

    const SHAPE: &str = "Where clause should look like: TIMESTAMP = '2018-04-18-19-19-10' or TIMESTAMP <= '2018-04-18-19-19-10'";
    assert_err("DROP SNAPSHOT s ON r WHERE SNAPSHOT = 's'", SHAPE);
    assert_err("DROP SNAPSHOT s ON r WHERE TIMESTAMP < 'x'", SHAPE);
    assert_err("DROP SNAPSHOT s ON r WHERE TIMESTAMP = x", SHAPE);
    assert_err("DROP SNAPSHOT s", "Expected: ON, found: EOF");
    assert_err(
        "DROP SNAPSHOT s ON r FORCE FORCE",
        "Expected: end of statement, found: FORCE",
    );
}

#[test]
fn verify_snapshot() {
    let Statement::VerifySnapshot(v) = verified_stmt(
        r#"VERIFY SNAPSHOT s ON r WHERE TIMESTAMP = "2024-01-01-00-00-00-000" PROPERTIES ("parallelism" = "4")"#,
    ) else {
        panic!()
    };
    assert_eq!(v.timestamp.as_deref(), Some("2024-01-01-00-00-00-000"));
    verified_stmt("VERIFY SNAPSHOT s ON r");
    assert_err(
        "VERIFY SNAPSHOT s ON r WHERE TIMESTAMP <= 'x'",
        "Where clause should look like: TIMESTAMP = '2018-04-18-19-19-10'",
    );
    assert_err("VERIFY s ON r", "Expected: SNAPSHOT, found: s");
}

// ---- DDL -----------------------------------------------------------------------------------

const FULL_TABLE: &str = r#"CREATE TABLE IF NOT EXISTS db.sales (k INT NOT NULL COMMENT "key", dt DATE NOT NULL, city VARCHAR(64) NULL DEFAULT "none", amount DECIMAL(10, 2) DEFAULT "0", qty BIGINT DEFAULT -1, ts DATETIME DEFAULT CURRENT_TIMESTAMP, flag BOOLEAN, s STRING, c CHAR(2), b TINYINT, sm SMALLINT, big LARGEINT, f FLOAT, d DOUBLE) ENGINE=olap DUPLICATE KEY(k, dt) COMMENT "daily sales" PARTITION BY RANGE(dt) (PARTITION p2023 VALUES LESS THAN ("2024-01-01"), PARTITION p2024 VALUES [("2024-01-01"), ("2025-01-01")), PARTITION pmax VALUES LESS THAN MAXVALUE) DISTRIBUTED BY HASH(k) BUCKETS 8 PROPERTIES ("replication_num" = "1", "storage_medium" = "SSD")"#;

#[test]
fn create_table_full() {
    let Statement::CreateTable(t) = verified_stmt(FULL_TABLE) else {
        panic!()
    };
    assert!(t.if_not_exists && !t.external);
    assert_eq!(t.name, name(&["db", "sales"]));
    assert_eq!(t.columns.len(), 14);
    assert_eq!(
        t.columns[0],
        ColumnDef {
            name: id("k"),
            data_type: DataType::Int,
            aggregate: None,
            nullable: Some(false),
            default: None,
            comment: Some("key".into()),
        }
    );
    assert_eq!(t.columns[2].data_type, DataType::Varchar(Some(64)));
    assert_eq!(t.columns[2].nullable, Some(true));
    assert_eq!(
        t.columns[3].data_type,
        DataType::Decimal {
            kind: DecimalKind::Decimal,
            precision: Some(10),
            scale: Some(2)
        }
    );
    assert_eq!(
        t.columns[4].default,
        Some(ColumnDefault::Literal(Literal::Number("-1".into())))
    );
    assert_eq!(t.columns[5].default, Some(ColumnDefault::CurrentTimestamp));
    assert_eq!(t.engine, Some(id("olap")));
    assert_eq!(
        t.key,
        Some(KeyDesc {
            model: KeyModel::Duplicate,
            columns: vec![id("k"), id("dt")]
        })
    );
    let p = t.partition_by.as_ref().unwrap();
    assert_eq!((p.kind, &p.column), (PartitionKind::Range, &id("dt")));
    assert_eq!(
        p.partitions,
        vec![
            PartitionDef {
                name: id("p2023"),
                values: PartitionValues::LessThan(PartitionValue::Literal(Literal::String(
                    "2024-01-01".into()
                )))
            },
            PartitionDef {
                name: id("p2024"),
                values: PartitionValues::Range {
                    lower: PartitionValue::Literal(Literal::String("2024-01-01".into())),
                    upper: PartitionValue::Literal(Literal::String("2025-01-01".into())),
                }
            },
            PartitionDef {
                name: id("pmax"),
                values: PartitionValues::LessThan(PartitionValue::MaxValue)
            },
        ]
    );
    assert_eq!(
        t.distribution,
        Some(Distribution::Hash {
            columns: vec![id("k")],
            buckets: Some(8)
        })
    );
    assert_eq!(property(&t.properties, "replication_num"), Some("1"));
}

#[test]
fn create_table_pretty() {
    let stmt = parse_one(
        r#"CREATE TABLE t (k INT, v STRING) DUPLICATE KEY(k) PARTITION BY LIST(v) (PARTITION p1 VALUES IN ("a", "b"), PARTITION p2 VALUES IN ("c")) DISTRIBUTED BY RANDOM PROPERTIES ("replication_num" = "1")"#,
    )
    .unwrap();
    let expected = r#"CREATE TABLE t (
  k INT,
  v STRING
)
DUPLICATE KEY(k)
PARTITION BY LIST(v) (
  PARTITION p1 VALUES IN ("a", "b"),
  PARTITION p2 VALUES IN ("c")
)
DISTRIBUTED BY RANDOM
PROPERTIES (
  "replication_num" = "1"
)"#;
    assert_eq!(format!("{stmt:#}"), expected);
    assert_eq!(parse_one(expected).unwrap(), stmt);
}

#[test]
fn create_table_variants() {
    // Spellings that normalize: INTEGER, INT(11), BOOL, TEXT, NUMERIC; clauses in any order.
    let Statement::CreateTable(t) = round_trip(
        "create external table t (a integer(11), b bool, c text, d numeric(5), e decimal64(18, 4), f varchar) \
         distributed by hash(a) properties ('x' = 'y') comment 'c' primary key (a) engine = OLAP",
    ) else {
        panic!()
    };
    assert!(t.external);
    let types: Vec<_> = t.columns.iter().map(|c| c.data_type.to_string()).collect();
    assert_eq!(
        types,
        [
            "INT",
            "BOOLEAN",
            "STRING",
            "DECIMAL(5)",
            "DECIMAL64(18, 4)",
            "VARCHAR"
        ]
    );
    assert_eq!(t.key.as_ref().map(|k| k.model), Some(KeyModel::Primary));
    assert_eq!(t.engine, Some(id("OLAP")));
    assert_eq!(
        t.to_string(),
        r#"CREATE EXTERNAL TABLE t (a INT, b BOOLEAN, c STRING, d DECIMAL(5), e DECIMAL64(18, 4), f VARCHAR) ENGINE=OLAP PRIMARY KEY(a) COMMENT "c" DISTRIBUTED BY HASH(a) PROPERTIES ("x" = "y")"#
    );

    // AGGREGATE KEY with aggregate types; numeric partition bounds.
    let Statement::CreateTable(t) = verified_stmt(
        "CREATE TABLE t (k INT, v BIGINT SUM NOT NULL DEFAULT 0, r VARCHAR(8) REPLACE_IF_NOT_NULL) AGGREGATE KEY(k) \
         PARTITION BY RANGE(k) (PARTITION p0 VALUES LESS THAN (0), PARTITION p1 VALUES LESS THAN (100)) DISTRIBUTED BY HASH(k)",
    ) else {
        panic!()
    };
    assert_eq!(t.columns[1].aggregate, Some(AggregateType::Sum));
    assert_eq!(
        t.columns[2].aggregate,
        Some(AggregateType::ReplaceIfNotNull)
    );

    // Minimal; backticks kept.
    let Statement::CreateTable(t) = verified_stmt("CREATE TABLE `my db`.`select` (`key` INT)")
    else {
        panic!()
    };
    assert_eq!(
        t.name,
        ObjectName::from(vec![
            Ident::with_quote('`', "my db"),
            Ident::with_quote('`', "select")
        ])
    );
    assert_eq!(t.columns[0].name, Ident::with_quote('`', "key"));

    // Empty partition list; LIST with NULL.
    verified_stmt("CREATE TABLE t (k INT) PARTITION BY RANGE(k) ()");
    verified_stmt(
        r#"CREATE TABLE t (k INT) PARTITION BY LIST(k) (PARTITION p VALUES IN (NULL, "1"))"#,
    );

    // LIKE.
    let Statement::CreateTable(t) = verified_stmt("CREATE TABLE IF NOT EXISTS t2 LIKE db.t1")
    else {
        panic!()
    };
    assert_eq!(t.like, Some(name(&["db", "t1"])));
    assert!(t.columns.is_empty());

    // CREATE TABLE ... AS SELECT is ours too (its query parsed by sqlparser's parser).
    assert!(matches!(
        parse_one("CREATE TABLE t AS SELECT 1").unwrap(),
        Statement::CreateTable(CreateTable {
            as_query: Some(_),
            ..
        })
    ));
    // So are other CREATEs.
    assert!(matches!(
        parse_one("CREATE INDEX i ON t (x)").unwrap(),
        Statement::Std(_)
    ));
}

#[test]
fn create_table_takes_the_type_aliases_orms_emit() {
    let Statement::CreateTable(t) = parse_one(
        "CREATE TABLE t (a FLOAT(53), b FLOAT(24), c FLOAT(7,2), d DOUBLE PRECISION, e REAL, \
         f REAL(10,2), g DOUBLE(8,3), h DEC(5,2), i TINYTEXT, j MEDIUMTEXT, k LONGTEXT, l TEXT(100), \
         m INTEGER, n BOOL, o NUMERIC(9,3), p FLOAT)",
    )
    .unwrap() else {
        panic!("not a CREATE TABLE");
    };
    let types: Vec<String> = t.columns.iter().map(|c| c.data_type.to_string()).collect();
    assert_eq!(
        types,
        [
            "DOUBLE",
            "FLOAT",
            "FLOAT",
            "DOUBLE",
            "DOUBLE",
            "DOUBLE",
            "DOUBLE",
            "DECIMAL(5, 2)",
            "STRING",
            "STRING",
            "STRING",
            "STRING",
            "INT",
            "BOOLEAN",
            "DECIMAL(9, 3)",
            "FLOAT"
        ]
    );
    assert_err(
        "CREATE TABLE t (a FLOAT(54))",
        "FLOAT(54) (column a): the precision of a FLOAT is 0 to 53 bits",
    );
}

#[test]
fn create_table_errors() {
    assert_err(
        "CREATE TABLE t (k INT, INDEX idx (k) USING BITMAP) DUPLICATE KEY(k)",
        "INDEX definitions are not supported in CREATE TABLE; remove the INDEX clause (backstop keeps no secondary indexes)",
    );
    let e = parse_err("CREATE TABLE t (k INT,\n  j INTT)");
    assert_eq!(
        e.message,
        "Column type INTT (column j) is not supported; supported types: BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, \
         LARGEINT, FLOAT, DOUBLE, DECIMAL[(p[, s])], DECIMALV2, DECIMAL32, DECIMAL64, DECIMAL128, CHAR[(n)], \
         VARCHAR[(n)], STRING, DATE, DATETIME, JSON, VARBINARY[(n)], BITMAP, HLL"
    );
    assert_eq!((e.line, e.column), (2, 5));
    assert!(!e.unsupported);
    // Known MySQL and StarRocks types backstop does not store: 1235, naming the type.
    for (sql, want) in [
        (
            "CREATE TABLE t (k INT,\n  j ENUM('a', 'b'))",
            "Column type ENUM('a', 'b') (column j) is not supported by backstop; use VARCHAR",
        ),
        (
            "CREATE TABLE t (ts TIMESTAMP)",
            "Column type TIMESTAMP (column ts) is not supported by backstop; use DATETIME (microseconds, no time zone)",
        ),
        (
            "CREATE TABLE t (b LONGBLOB)",
            "Column type LONGBLOB (column b) is not supported by backstop; use VARBINARY",
        ),
        (
            "CREATE TABLE t (d DATETIME(6))",
            "Column type DATETIME(6) (column d) is not supported: StarRocks' DATETIME takes no precision; use DATETIME, which keeps microseconds",
        ),
    ] {
        let e = parse_err(sql);
        assert_eq!(e.message, want, "{sql}");
        assert!(e.unsupported, "{sql}");
    }
    assert_err(
        "CREATE TABLE t (a INT, b INT) PARTITION BY RANGE(a, b) ()",
        "Partitioning by more than one column is not supported; partition by one column",
    );
    assert_err(
        r#"CREATE TABLE t (a INT) PARTITION BY RANGE(a) (PARTITION p VALUES LESS THAN ("1", "2"))"#,
        "Partition values for more than one column are not supported; give one value per bound",
    );
    assert_err(
        r#"CREATE TABLE t (a INT) PARTITION BY LIST(a) (PARTITION p VALUES IN (("1", "2")))"#,
        "Partition values for more than one column are not supported; give one value per bound",
    );
    assert_err(
        r#"CREATE TABLE t (a INT) PARTITION BY RANGE(a) (PARTITION p VALUES IN ("1"))"#,
        "Expected: LESS THAN or [ (a RANGE partition), found: IN",
    );
    assert_err(
        r#"CREATE TABLE t (a INT) PARTITION BY LIST(a) (PARTITION p VALUES LESS THAN ("1"))"#,
        "Expected: IN (a LIST partition), found: LESS",
    );
    // Batches belong to RANGE partitions only.
    assert_err(
        r#"CREATE TABLE t (a INT) PARTITION BY LIST(a) (START ("1") END ("5") EVERY (1))"#,
        "Expected: PARTITION or START (... END ... EVERY, RANGE partitions), found: START",
    );
    assert_err(
        r#"CREATE TABLE t (a DATE) PARTITION BY RANGE(a) (START ("2024-02-01") END ("2024-01-01") EVERY (INTERVAL 1 DAY))"#,
        "START ('2024-02-01') END ('2024-01-01') creates no partition: START must be before END",
    );
    assert_err(
        "CREATE TABLE t (a DATE) PARTITION BY (a)",
        "Expected: RANGE, LIST, date_trunc(...) or time_slice(...) (column expressions are not \
         supported), found: (",
    );
    assert_err(
        "CREATE TABLE t (a DATE) PARTITION BY date_trunc('minute', a)",
        "'minute' is not a partition time unit: use 'hour', 'day', 'month' or 'year'",
    );
    assert_err(
        "CREATE TABLE t (a DATETIME) PARTITION BY time_slice(a, INTERVAL 1 DAY, CEIL)",
        "Expected: FLOOR (the only boundary of a partition expression), found: CEIL",
    );
    assert_err(
        "CREATE TABLE t (a INT) COMMENT 'x' COMMENT 'y'",
        "COMMENT is given more than once",
    );
    assert_err(
        "CREATE TABLE t (a INT, PRIMARY KEY (a))",
        "Key and constraint definitions go after the column list in StarRocks syntax, e.g. ) DUPLICATE KEY(col)",
    );
    assert_err(
        "CREATE TABLE t (a INT) DISTRIBUTED BY HASH(a) BUCKETS x",
        "Expected: number of buckets, found: x",
    );
    assert_err(
        "CREATE TABLE t (a INT) DISTRIBUTED BY HASH(a) BUCKETS 99999999999999999999999",
        "Expected: number of buckets (a non-negative integer), found: 99999999999999999999999",
    );
    assert_err(
        "CREATE TABLE t (a VARCHAR(99999999999))",
        "length 99999999999 is too large",
    );
    assert_err(
        "CREATE TABLE t",
        "Expected: ( or LIKE or AS SELECT, found: EOF",
    );
    assert_err("CREATE TABLE t ()", "Expected: column name, found: )");
    assert_err("CREATE TABLE t (a)", "Expected: type of column a, found: )");
    assert_err(
        "CREATE TABLE t (a INT) ENGINE=InnoDB DEFAULT CHARSET=utf8",
        "Expected: end of statement, found: DEFAULT",
    );
    assert_err(
        "CREATE TABLE t (a INT) DISTRIBUTED BY a",
        "Expected: HASH or RANDOM, found: a",
    );
}

#[test]
fn databases() {
    assert_eq!(
        verified_stmt(r#"CREATE DATABASE IF NOT EXISTS d PROPERTIES ("replication_num" = "1")"#),
        Statement::CreateDatabase {
            name: id("d"),
            if_not_exists: true,
            properties: props(&[("replication_num", "1")])
        }
    );
    assert_eq!(
        round_trip("create schema d"),
        Statement::CreateDatabase {
            name: id("d"),
            if_not_exists: false,
            properties: vec![]
        }
    );
    assert_eq!(
        verified_stmt("DROP DATABASE IF EXISTS d FORCE"),
        Statement::DropDatabase {
            name: id("d"),
            if_exists: true,
            force: true
        }
    );
    verified_stmt("DROP DATABASE d");
    assert_err("CREATE DATABASE", "Expected: database name, found: EOF");
    assert_err(
        "DROP DATABASE d CASCADE",
        "Expected: end of statement, found: CASCADE",
    );
}

#[test]
fn partitions_ddl() {
    let Statement::AddPartition(a) = verified_stmt(
        r#"ALTER TABLE db.t ADD PARTITION p3 VALUES LESS THAN ("2026-01-01") DISTRIBUTED BY HASH(k) BUCKETS 3"#,
    ) else {
        panic!()
    };
    assert_eq!(a.table, name(&["db", "t"]));
    assert!(!a.temporary && !a.if_not_exists);
    assert_eq!(a.partition.name, id("p3"));
    verified_stmt(r#"ALTER TABLE t ADD PARTITION IF NOT EXISTS p VALUES [("1"), ("2"))"#);
    verified_stmt(r#"ALTER TABLE t ADD TEMPORARY PARTITION p VALUES IN ("a", "b")"#);
    verified_stmt("ALTER TABLE t ADD PARTITION p VALUES LESS THAN MAXVALUE");
    assert_eq!(
        round_trip("alter table t drop partition if exists p force"),
        Statement::DropPartition(DropPartition {
            table: name(&["t"]),
            temporary: false,
            if_exists: true,
            name: id("p"),
            force: true
        })
    );
    verified_stmt("ALTER TABLE t DROP TEMPORARY PARTITION p");
    assert_err(
        "ALTER TABLE t ADD PARTITION p",
        "Expected: VALUES, found: EOF",
    );
    assert_err(
        "ALTER TABLE t ADD PARTITION p VALUES (1)",
        "Expected: LESS THAN, [ or IN, found: (",
    );
    // ADD and DROP COLUMN are ours; other ALTERs are sqlparser's.
    assert!(matches!(
        round_trip("ALTER TABLE t ADD COLUMN c INT NULL COMMENT 'x'"),
        Statement::AddColumns(_)
    ));
    assert!(matches!(
        round_trip("ALTER TABLE d.t ADD COLUMN (c INT, e STRING)"),
        Statement::AddColumns(_)
    ));
    assert!(matches!(
        round_trip("ALTER TABLE t DROP COLUMN c"),
        Statement::DropColumn(_)
    ));
    assert!(matches!(
        round_trip("ALTER TABLE t MODIFY COLUMN c BIGINT"),
        Statement::Std(_)
    ));
}

#[test]
fn truncate_and_checksum() {
    assert_eq!(
        verified_stmt("TRUNCATE TABLE db.t PARTITION (p1, p2)"),
        Statement::TruncateTable(TruncateTable {
            table: name(&["db", "t"]),
            partitions: vec![id("p1"), id("p2")]
        })
    );
    assert_eq!(
        round_trip("truncate t"),
        Statement::TruncateTable(TruncateTable {
            table: name(&["t"]),
            partitions: vec![]
        })
    );
    assert_eq!(
        round_trip("CHECKSUM TABLE t1, db.t2 EXTENDED"),
        Statement::ChecksumTable(vec![name(&["t1"]), name(&["db", "t2"])])
    );
    verified_stmt("CHECKSUM TABLE t1, db.t2");
    assert_err("CHECKSUM TABLE", "Expected: table name, found: EOF");
    assert_err("TRUNCATE TABLE t PARTITION p1", "Expected: (, found: p1");
}

// ---- the statement list, std statements, errors ---------------------------------------------

#[test]
fn std_statements_pass_through() {
    for sql in [
        "SELECT 1",
        "SET NAMES utf8mb4",
        "DROP TABLE t",
        "INSERT INTO t VALUES (1, 'a')",
        "USE db",
    ] {
        assert!(matches!(round_trip(sql), Statement::Std(_)), "{sql}");
    }
}

#[test]
fn statement_lists() {
    let stmts = parse("SELECT 1; ; SHOW REPOSITORIES;\nBACKUP SNAPSHOT s TO r;").unwrap();
    assert_eq!(stmts.len(), 3);
    assert_eq!(stmts[1], Statement::ShowRepositories);
    assert!(parse("").unwrap().is_empty());
    assert!(parse(" ;; -- nothing\n").unwrap().is_empty());
    assert_eq!(
        parse_err("SHOW REPOSITORIES SHOW REPOSITORIES").message,
        "Expected: end of statement, found: SHOW"
    );
    let e = parse_one("SHOW REPOSITORIES; SELECT 1").unwrap_err();
    assert_eq!(
        e.message,
        "Expected: end of input (only one statement is allowed here), found: SELECT"
    );
    assert_eq!((e.line, e.column), (1, 20));
    assert_eq!(parse_one(" ; ").unwrap_err().message, "Query was empty");
    assert_eq!(
        parse_one("SHOW REPOSITORIES;;").unwrap(),
        Statement::ShowRepositories
    );
}

#[test]
fn error_locations_and_display() {
    // Our own error, on line 2.
    let e = parse_err("BACKUP SNAPSHOT s\n  FROM r");
    assert_eq!(
        (e.message.as_str(), e.line, e.column),
        ("Expected: TO, found: FROM", 2, 3)
    );
    assert_eq!(
        e.to_string(),
        "You have an error in your SQL syntax; Expected: TO, found: FROM at line 2, column 3"
    );
    // sqlparser's error, converted (its text carries the location).
    let e = parse_err("SELECT * FROM t WHERE");
    assert!(
        e.message.starts_with("Expected: an expression"),
        "{}",
        e.message
    );
    assert_eq!(e.line, 1);
    assert!(!e.message.contains("Line:"), "{}", e.message);
    // End of input: the position after the last token.
    let e = parse_err("BACKUP SNAPSHOT s TO");
    assert_eq!((e.line, e.column), (1, 21));
    // Tokenizer errors.
    let e = parse_err("SHOW SNAPSHOT ON r WHERE SNAPSHOT = 'abc");
    assert!(
        e.message.contains("Unterminated string literal"),
        "{}",
        e.message
    );
    assert_eq!((e.line, e.column), (1, 37));
    // Not a statement at all.
    let e = parse_err("FROBNICATE x");
    assert!(e.message.contains("found: FROBNICATE"), "{}", e.message);
}

#[test]
fn unicode_and_odd_input() {
    let Statement::BackupSnapshot(b) =
        round_trip("BACKUP SNAPSHOT `снимок 🦀` TO `répo` ON (`таблица`)")
    else {
        panic!()
    };
    assert_eq!(b.label, Ident::with_quote('`', "снимок 🦀"));
    for sql in [
        "🦀",
        "SHOW SNAPSHOT ON 🦀",
        "BACKUP SNAPSHOT é TO",
        "\u{0}",
        "CREATE TABLE t (a VARCHAR(🦀))",
        "`",
        "'",
        "\"",
    ] {
        let _ = parse(sql);
    }
    // Doubled backticks inside a quoted name.
    let Statement::DropRepository(d) = round_trip("DROP REPOSITORY `a``b`") else {
        panic!()
    };
    assert_eq!(d.name.value, "a`b");
}

// ---- properties ----------------------------------------------------------------------------

/// The proptest settings of backstop's property tests: `cases` inputs (bounded for CI: well
/// under a second each), no regression files: a failure prints its minimal input, which
/// belongs in a unit test.
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

mod props {
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::super::*;

    /// Valid statements of every family: mutation seeds.
    const CORPUS: &[&str] = &[
        r#"CREATE REPOSITORY test_repo WITH BROKER ON LOCATION "s3a://bucket_s3/backup" PROPERTIES ("aws.s3.use_instance_profile" = "true", "aws.s3.region" = "us-west-2");"#,
        "BACKUP SNAPSHOT sr_hub.sr_member_backup TO test_repo ON (sr_member);",
        "SHOW SNAPSHOT ON test_repo;",
        r#"RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member) PROPERTIES ("backup_timestamp" = "2023-02-07-14-45-53-143", "replication_num" = "1");"#,
        "BACKUP DATABASE d SNAPSHOT s TO r ON (TABLE t1 PARTITION (p1, p2), ALL VIEWS, MATERIALIZED VIEW m, FUNCTION f)",
        "RESTORE SNAPSHOT s FROM r EXTERNAL CATALOGS (c AS d) DATABASE src AS tgt ON (t TEMPORARY PARTITION (p) AS u)",
        "SHOW SNAPSHOT ON r WHERE SNAPSHOT = 's' AND TIMESTAMP = 't'",
        "SHOW SNAPSHOT ON r WHERE SNAPSHOT IN ('a', 'b')",
        "SHOW RESTORE FROM db WHERE a = 1",
        "CANCEL BACKUP FROM db; CANCEL RESTORE FOR EXTERNAL CATALOG",
        r#"DROP SNAPSHOT s ON r WHERE TIMESTAMP <= "x" FORCE PROPERTIES ("a" = "b")"#,
        r#"VERIFY SNAPSHOT s ON r WHERE TIMESTAMP = "x""#,
        super::FULL_TABLE,
        r#"CREATE TABLE t (k INT, v STRING) DUPLICATE KEY(k) PARTITION BY LIST(v) (PARTITION p1 VALUES IN ("a", "b")) DISTRIBUTED BY RANDOM BUCKETS 2"#,
        "CREATE DATABASE IF NOT EXISTS d; DROP DATABASE d FORCE; DROP REPOSITORY r; SHOW REPOSITORIES",
        r#"ALTER TABLE t ADD PARTITION p VALUES [("1"), ("2")) DISTRIBUTED BY HASH(k) BUCKETS 3; ALTER TABLE t DROP PARTITION IF EXISTS p FORCE"#,
        "TRUNCATE TABLE t PARTITION (p1, p2); CHECKSUM TABLE a, b.c QUICK; SHOW PARTITIONS FROM t; SHOW TABLET FROM t",
        "CREATE TABLE t2 LIKE t1",
    ];

    /// Tokens that are likely to push the parser down interesting paths.
    const VOCAB: &[&str] = &[
        "(",
        ")",
        ",",
        ";",
        ".",
        "=",
        "<=",
        "[",
        "AS",
        "ON",
        "TO",
        "FROM",
        "IN",
        "ALL",
        "TABLE",
        "VIEW",
        "MATERIALIZED",
        "PARTITION",
        "TEMPORARY",
        "PROPERTIES",
        "WHERE",
        "AND",
        "SNAPSHOT",
        "TIMESTAMP",
        "DATABASE",
        "EXTERNAL",
        "CATALOGS",
        "MAXVALUE",
        "LESS",
        "THAN",
        "VALUES",
        "NULL",
        "NOT",
        "DEFAULT",
        "KEY",
        "BY",
        "\"s\"",
        "'x'",
        "1",
        "-",
        "`q`",
        "x",
        "FORCE",
        "IF",
        "EXISTS",
        "SELECT",
        "🦀",
    ];

    /// The statement's tokens as text (whitespace dropped).
    fn tokens(sql: &str) -> Vec<String> {
        sqlparser::tokenizer::Tokenizer::new(&DIALECT, sql)
            .tokenize()
            .unwrap()
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .map(|t| t.to_string())
            .collect()
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Delete(usize),
        Insert(usize, &'static str),
        Swap(usize, usize),
        Duplicate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            any::<usize>().prop_map(Mutation::Delete),
            (any::<usize>(), select(VOCAB)).prop_map(|(i, t)| Mutation::Insert(i, t)),
            (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Mutation::Swap(i, j)),
            any::<usize>().prop_map(Mutation::Duplicate),
        ]
    }

    fn apply(mut toks: Vec<String>, mutations: &[Mutation]) -> String {
        for m in mutations {
            let n = toks.len().max(1);
            match m {
                Mutation::Delete(i) if !toks.is_empty() => {
                    toks.remove(i % n);
                }
                Mutation::Insert(i, t) => toks.insert(i % (toks.len() + 1), t.to_string()),
                Mutation::Swap(i, j) if !toks.is_empty() => toks.swap(i % n, j % n),
                Mutation::Duplicate(i) if !toks.is_empty() => {
                    let t = toks[i % n].clone();
                    toks.insert(i % n, t);
                }
                _ => {}
            }
        }
        toks.join(" ")
    }

    /// Anything that parses must round-trip; Std statements are sqlparser's business.
    fn check_round_trip(sql: &str) -> Result<(), TestCaseError> {
        if let Ok(stmts) = parse(sql) {
            for stmt in stmts.iter().filter(|s| !matches!(s, Statement::Std(_))) {
                let printed = stmt.to_string();
                let again = parse_one(&printed);
                prop_assert_eq!(
                    again.as_ref().ok(),
                    Some(stmt),
                    "input: {}\nprinted: {}\n{:?}",
                    sql,
                    printed,
                    again
                );
            }
        }
        Ok(())
    }

    // ---- AST generators ----

    fn ident() -> impl Strategy<Value = Ident> {
        prop_oneof![
            // Unquoted: the underscore keeps it clear of every keyword.
            "[a-z]{1,3}_[a-z0-9]{0,4}".prop_map(Ident::new),
            "\\PC{1,8}".prop_map(|s| Ident::with_quote('`', s)),
        ]
    }

    fn object_name() -> impl Strategy<Value = ObjectName> {
        prop::collection::vec(ident(), 1..3).prop_map(ObjectName::from)
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["\\PC{0,12}", "[\\\\\"'a ]{0,6}"]
    }

    fn properties() -> impl Strategy<Value = Properties> {
        prop::collection::vec((text(), text()), 0..4).prop_map(|pairs| {
            let mut out = Properties::new();
            for (k, v) in pairs {
                if !out.iter().any(|(key, _)| *key == k) {
                    out.push((k, v));
                }
            }
            out
        })
    }

    fn table_ref(with_partitions: bool, with_alias: bool) -> impl Strategy<Value = TableRef> {
        (
            object_name(),
            prop::collection::vec(ident(), 0..3),
            any::<bool>(),
            prop::option::of(ident()),
        )
            .prop_map(move |(name, partitions, temporary, alias)| {
                let partitions = if with_partitions { partitions } else { vec![] };
                TableRef {
                    temporary: temporary && !partitions.is_empty(),
                    partitions,
                    name,
                    alias: if with_alias { alias } else { None },
                }
            })
    }

    fn kind() -> impl Strategy<Value = ObjectKind> {
        select(vec![
            ObjectKind::Table,
            ObjectKind::MaterializedView,
            ObjectKind::View,
            ObjectKind::Function,
        ])
    }

    fn backup_object(restore: bool) -> impl Strategy<Value = BackupObject> {
        prop_oneof![
            kind().prop_map(BackupObject::All),
            (
                prop::option::of(kind()),
                table_ref(true, restore),
                table_ref(false, restore)
            )
                .prop_map(|(kind, with_parts, without)| {
                    let object = match kind {
                        None | Some(ObjectKind::Table) => with_parts,
                        _ => without,
                    };
                    BackupObject::Named { kind, object }
                }),
        ]
    }

    fn catalogs(restore: bool) -> impl Strategy<Value = Option<ExternalCatalogs>> {
        prop::option::of(prop_oneof![
            Just(ExternalCatalogs::All),
            prop::collection::vec((ident(), prop::option::of(ident())), 1..3).prop_map(move |cs| {
                ExternalCatalogs::Named(
                    cs.into_iter()
                        .map(|(c, a)| (c, if restore { a } else { None }))
                        .collect(),
                )
            }),
        ])
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            text().prop_map(Literal::String),
            "-?[0-9]{1,5}(\\.[0-9]{1,3})?".prop_map(Literal::Number),
            Just(Literal::Null),
        ]
    }

    fn partition_value() -> impl Strategy<Value = PartitionValue> {
        prop_oneof![
            Just(PartitionValue::MaxValue),
            literal().prop_map(PartitionValue::Literal)
        ]
    }

    fn partition_values(kind: Option<PartitionKind>) -> BoxedStrategy<PartitionValues> {
        let range = prop_oneof![
            partition_value().prop_map(PartitionValues::LessThan),
            (partition_value(), partition_value())
                .prop_map(|(lower, upper)| PartitionValues::Range { lower, upper }),
        ];
        let list = prop::collection::vec(literal(), 1..4).prop_map(PartitionValues::In);
        match kind {
            Some(PartitionKind::Range) => range.boxed(),
            Some(PartitionKind::List) => list.boxed(),
            None => prop_oneof![range, list].boxed(),
        }
    }

    fn data_type() -> impl Strategy<Value = DataType> {
        let simple = select(vec![
            DataType::Boolean,
            DataType::TinyInt,
            DataType::SmallInt,
            DataType::Int,
            DataType::BigInt,
            DataType::LargeInt,
            DataType::Float,
            DataType::Double,
            DataType::String,
            DataType::Date,
            DataType::DateTime,
        ]);
        let decimal_kind = select(vec![
            DecimalKind::Decimal,
            DecimalKind::DecimalV2,
            DecimalKind::Decimal32,
            DecimalKind::Decimal64,
            DecimalKind::Decimal128,
        ]);
        prop_oneof![
            simple,
            prop::option::of(0u32..70000).prop_map(DataType::Char),
            prop::option::of(0u32..70000).prop_map(DataType::Varchar),
            (
                decimal_kind,
                prop::option::of((1u32..40, prop::option::of(0u32..20)))
            )
                .prop_map(|(kind, ps)| {
                    DataType::Decimal {
                        kind,
                        precision: ps.map(|(p, _)| p),
                        scale: ps.and_then(|(_, s)| s),
                    }
                }),
        ]
    }

    fn column() -> impl Strategy<Value = ColumnDef> {
        let aggregate = select(vec![
            AggregateType::Sum,
            AggregateType::Max,
            AggregateType::Min,
            AggregateType::Replace,
            AggregateType::ReplaceIfNotNull,
            AggregateType::HllUnion,
            AggregateType::BitmapUnion,
            AggregateType::PercentileUnion,
        ]);
        let default = prop_oneof![
            Just(ColumnDefault::CurrentTimestamp),
            literal().prop_map(ColumnDefault::Literal)
        ];
        (
            ident(),
            data_type(),
            prop::option::of(aggregate),
            prop::option::of(any::<bool>()),
            prop::option::of(default),
            prop::option::of(text()),
        )
            .prop_map(|(name, data_type, aggregate, nullable, default, comment)| {
                ColumnDef {
                    name,
                    data_type,
                    aggregate,
                    nullable,
                    default,
                    comment,
                }
            })
    }

    fn distribution() -> impl Strategy<Value = Distribution> {
        prop_oneof![
            (
                prop::collection::vec(ident(), 1..3),
                prop::option::of(any::<u64>())
            )
                .prop_map(|(columns, buckets)| Distribution::Hash { columns, buckets }),
            prop::option::of(any::<u64>()).prop_map(|buckets| Distribution::Random { buckets }),
        ]
    }

    fn partition_by() -> impl Strategy<Value = PartitionBy> {
        select(vec![PartitionKind::Range, PartitionKind::List]).prop_flat_map(|kind| {
            (
                ident(),
                prop::collection::vec((ident(), partition_values(Some(kind))), 0..4),
            )
                .prop_map(move |(column, parts)| PartitionBy {
                    kind,
                    column,
                    partitions: parts
                        .into_iter()
                        .map(|(name, values)| PartitionDef { name, values })
                        .collect(),
                    auto: None,
                })
        })
    }

    fn create_table() -> impl Strategy<Value = CreateTable> {
        let key_model = select(vec![
            KeyModel::Duplicate,
            KeyModel::Aggregate,
            KeyModel::Unique,
            KeyModel::Primary,
        ]);
        let head = (
            any::<bool>(),
            any::<bool>(),
            object_name(),
            prop::option::of(object_name()),
        );
        let body = (
            prop::collection::vec(column(), 1..5),
            prop::option::of(ident()),
            prop::option::of((key_model, prop::collection::vec(ident(), 1..3))),
            prop::option::of(text()),
            prop::option::of(partition_by()),
            prop::option::of(distribution()),
            properties(),
        );
        (head, body).prop_map(
            |(
                (external, if_not_exists, name, like),
                (columns, engine, key, comment, partition_by, distribution, properties),
            )| {
                if like.is_some() {
                    return CreateTable {
                        external,
                        if_not_exists,
                        name,
                        like,
                        columns: vec![],
                        engine: None,
                        key: None,
                        comment: None,
                        partition_by: None,
                        distribution: None,
                        properties: vec![],
                        as_query: None,
                    };
                }
                CreateTable {
                    external,
                    if_not_exists,
                    name,
                    like,
                    columns,
                    engine,
                    key: key.map(|(model, columns)| KeyDesc { model, columns }),
                    comment,
                    partition_by,
                    distribution,
                    properties,
                    as_query: None,
                }
            },
        )
    }

    fn timestamp_filter() -> impl Strategy<Value = TimestampFilter> {
        prop_oneof![
            text().prop_map(TimestampFilter::Eq),
            text().prop_map(TimestampFilter::AtOrBefore)
        ]
    }

    fn statement() -> impl Strategy<Value = Statement> {
        let broker = prop::option::of(prop_oneof![
            Just(Broker::Direct),
            text().prop_map(Broker::Named)
        ]);
        prop_oneof![
            (any::<bool>(), ident(), broker, text(), properties()).prop_map(
                |(read_only, name, broker, location, properties)| {
                    Statement::CreateRepository(CreateRepository {
                        read_only,
                        name,
                        broker,
                        location,
                        properties,
                    })
                }
            ),
            ident().prop_map(|name| Statement::DropRepository(DropRepository { name })),
            (
                catalogs(false),
                prop::option::of(ident()),
                ident(),
                ident(),
                prop::collection::vec(backup_object(false), 0..4),
                properties()
            )
                .prop_map(|(catalogs, db, label, repo, on, properties)| {
                    Statement::BackupSnapshot(BackupSnapshot {
                        catalogs,
                        db,
                        label,
                        repo,
                        on,
                        properties,
                    })
                }),
            (
                prop::option::of(ident()),
                ident(),
                ident(),
                catalogs(true),
                prop::option::of((ident(), prop::option::of(ident()))),
                prop::collection::vec(backup_object(true), 0..4),
                properties()
            )
                .prop_map(|(db, label, repo, catalogs, database, on, properties)| {
                    let database = if db.is_some() {
                        None
                    } else {
                        database.map(|(source, target)| RestoreDatabase { source, target })
                    };
                    let on = if db.is_none() && database.is_none() {
                        vec![]
                    } else {
                        on
                    };
                    Statement::RestoreSnapshot(RestoreSnapshot {
                        db,
                        label,
                        repo,
                        catalogs,
                        database,
                        on,
                        properties,
                    })
                }),
            (
                ident(),
                prop::option::of(prop_oneof![
                    (text(), prop::option::of(text())).prop_map(|(label, timestamp)| {
                        SnapshotFilter::Snapshot { label, timestamp }
                    }),
                    prop::collection::vec(text(), 1..4).prop_map(SnapshotFilter::SnapshotIn),
                ])
            )
                .prop_map(|(repo, filter)| Statement::ShowSnapshot(ShowSnapshot { repo, filter })),
            (
                ident(),
                ident(),
                prop::option::of(timestamp_filter()),
                any::<bool>(),
                properties()
            )
                .prop_map(|(label, repo, timestamp, force, properties)| {
                    Statement::DropSnapshot(DropSnapshot {
                        label,
                        repo,
                        timestamp,
                        force,
                        properties,
                    })
                }),
            (ident(), ident(), prop::option::of(text()), properties()).prop_map(
                |(label, repo, timestamp, properties)| {
                    Statement::VerifySnapshot(VerifySnapshot {
                        label,
                        repo,
                        timestamp,
                        properties,
                    })
                }
            ),
            (
                any::<bool>(),
                prop_oneof![
                    ident().prop_map(JobTarget::Database),
                    Just(JobTarget::ExternalCatalog)
                ]
            )
                .prop_map(|(backup, target)| {
                    let job = CancelJob { target };
                    if backup {
                        Statement::CancelBackup(job)
                    } else {
                        Statement::CancelRestore(job)
                    }
                }),
            (any::<bool>(), prop::option::of(ident())).prop_map(|(backup, db)| {
                let jobs = ShowJobs { db, filter: None };
                if backup {
                    Statement::ShowBackup(jobs)
                } else {
                    Statement::ShowRestore(jobs)
                }
            }),
            create_table().prop_map(Statement::CreateTable),
            (ident(), any::<bool>(), properties()).prop_map(|(name, if_not_exists, properties)| {
                Statement::CreateDatabase {
                    name,
                    if_not_exists,
                    properties,
                }
            }),
            (ident(), any::<bool>(), any::<bool>()).prop_map(|(name, if_exists, force)| {
                Statement::DropDatabase {
                    name,
                    if_exists,
                    force,
                }
            }),
            (
                object_name(),
                any::<bool>(),
                any::<bool>(),
                ident(),
                partition_values(None),
                prop::option::of(distribution())
            )
                .prop_map(
                    |(table, temporary, if_not_exists, name, values, distribution)| {
                        Statement::AddPartition(AddPartition {
                            table,
                            temporary,
                            if_not_exists,
                            partition: PartitionDef { name, values },
                            distribution,
                        })
                    }
                ),
            (
                object_name(),
                any::<bool>(),
                any::<bool>(),
                ident(),
                any::<bool>()
            )
                .prop_map(|(table, temporary, if_exists, name, force)| {
                    Statement::DropPartition(DropPartition {
                        table,
                        temporary,
                        if_exists,
                        name,
                        force,
                    })
                }),
            (object_name(), prop::collection::vec(ident(), 0..3)).prop_map(
                |(table, partitions)| Statement::TruncateTable(TruncateTable { table, partitions })
            ),
            prop::collection::vec(object_name(), 1..3).prop_map(Statement::ChecksumTable),
            object_name().prop_map(Statement::ShowPartitions),
            object_name().prop_map(Statement::ShowTablet),
            (
                object_name(),
                any::<bool>(),
                prop::collection::vec(ident(), 0..3)
            )
                .prop_map(|(table, base, partitions)| Statement::CompactTable(
                    CompactTable {
                        table,
                        base,
                        partitions,
                    }
                )),
            Just(Statement::ShowRepositories),
        ]
    }

    proptest! {
        #![proptest_config(super::proptest_config(512))]

        #[test]
        fn random_text_never_panics(s in "\\PC{0,120}") {
            let _ = parse(&s);
        }

        #[test]
        fn sqlish_text_never_panics(s in "[A-Za-z0-9_ ,;().'\"`=<>\\[\\]\\-\\\\\n]{0,120}") {
            let _ = parse(&s);
        }

        #[test]
        fn token_mutations_never_panic_and_round_trip(
            seed in select(CORPUS),
            mutations in prop::collection::vec(mutation(), 1..5),
        ) {
            let sql = apply(tokens(seed), &mutations);
            check_round_trip(&sql)?;
        }

        #[test]
        fn byte_mutations_never_panic(
            seed in select(CORPUS),
            cut in any::<prop::sample::Index>(),
            len in 0usize..8,
            insert in prop::option::of(any::<char>()),
        ) {
            let chars: Vec<char> = seed.chars().collect();
            let at = cut.index(chars.len() + 1);
            let end = (at + len).min(chars.len());
            let mut s: String = chars[..at].iter().collect();
            if let Some(c) = insert {
                s.push(c);
            }
            s.extend(&chars[end..]);
            let _ = parse(&s);
            check_round_trip(&s)?;
        }

        #[test]
        fn generated_statements_round_trip(stmt in statement()) {
            let printed = stmt.to_string();
            let again = parse_one(&printed);
            prop_assert_eq!(again.as_ref().ok(), Some(&stmt), "printed: {}\n{:?}", printed, again);
            let pretty = format!("{stmt:#}");
            let again = parse_one(&pretty);
            prop_assert_eq!(again.as_ref().ok(), Some(&stmt), "pretty: {}\n{:?}", pretty, again);
        }
    }
}

#[test]
fn drop_table_force_is_accepted() {
    let stmts = parse("DROP TABLE IF EXISTS db.t FORCE; DROP TABLE t").unwrap();
    assert_eq!(stmts.len(), 2);
    assert!(
        matches!(&stmts[0], Statement::Std(s) if matches!(**s, sqlparser::ast::Statement::Drop { .. }))
    );
    assert!(parse("DROP TABLE t FORCE FORCE").is_err());
}

#[test]
fn show_table_status_round_trips() {
    for sql in [
        "SHOW TABLE STATUS",
        "SHOW TABLE STATUS FROM sr_hub",
        "SHOW TABLE STATUS FROM sr_hub LIKE 'sr%'",
        "SHOW TABLE STATUS LIKE 'it''s'",
    ] {
        let stmt = parse_one(sql).unwrap();
        assert!(matches!(stmt, Statement::ShowTableStatus { .. }), "{sql}");
        assert_eq!(parse_one(&stmt.to_string()).unwrap(), stmt, "{sql}");
    }
}

#[test]
fn operator_chains_past_the_limit_are_refused_and_lists_are_not() {
    use crate::sql::MAX_OPERATOR_CHAIN;
    let chain = |op: &str, n: usize| format!("SELECT {}", vec!["1"; n].join(op));
    assert!(parse(&chain("+", MAX_OPERATOR_CHAIN + 1)).is_ok());
    let e = parse(&chain("+", MAX_OPERATOR_CHAIN + 2)).unwrap_err();
    assert!(e.message.starts_with("Statement too complex"), "{e}");
    for op in [" AND ", " OR ", " || ", " * "] {
        assert!(parse(&chain(op, 10_000)).is_err(), "{op}");
    }
    // An OR list of `x = n` terms nests once per OR, not per operator.
    let terms: Vec<String> = (0..MAX_OPERATOR_CHAIN)
        .map(|i| format!("x = {i}"))
        .collect();
    assert!(parse(&format!("SELECT 1 WHERE {}", terms.join(" OR "))).is_ok());
    // Side by side, not nested: long IN lists, many select items, parenthesised terms.
    let many: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    assert!(parse(&format!("SELECT 1 WHERE 5 IN ({})", many.join(","))).is_ok());
    assert!(parse(&format!("SELECT {}", vec!["1+1"; 20_000].join(","))).is_ok());
    // A chain's count starts again in the next statement.
    let two = format!("{}; {}", chain("+", 4_000), chain("+", 4_000));
    assert!(parse(&two).is_ok());
}

#[test]
fn create_table_as_select_keeps_its_clauses_and_query() {
    let stmt = round_trip(
        "CREATE TABLE IF NOT EXISTS d.t DUPLICATE KEY(a) DISTRIBUTED BY HASH(a) BUCKETS 2 \
         PROPERTIES (\"replication_num\" = \"1\") AS SELECT a, count(*) AS n FROM s GROUP BY a",
    );
    let Statement::CreateTable(t) = &stmt else {
        panic!("{stmt:?}");
    };
    assert!(t.columns.is_empty());
    assert_eq!(
        t.as_query.as_ref().map(|q| q.to_string()).as_deref(),
        Some("SELECT a, count(*) AS n FROM s GROUP BY a")
    );
    // A column list and AS together, or neither: what to do is said.
    assert!(parse_err("CREATE TABLE t").message.contains("AS SELECT"));
    assert!(parse_one("CREATE TABLE t (a INT) AS SELECT 1").is_err());
}

#[test]
fn sketch_function_calls_are_found_in_sql_text() {
    assert!(calls_sketch_functions(
        "SELECT BITMAP_UNION_COUNT (u) FROM t"
    ));
    assert!(calls_sketch_functions(
        "select d, hll_union_agg(h) from t group by d"
    ));
    assert!(!calls_sketch_functions(
        "SELECT my_to_bitmap(x), `to_bitmap`(y), to_bitmap FROM t"
    ));
}

#[test]
fn expression_partitioning() {
    round_trip("CREATE TABLE t (a DATETIME) PARTITION BY date_trunc('hour', a)");
    let Statement::CreateTable(t) =
        round_trip("CREATE TABLE t (a DATE) PARTITION BY time_slice(a, INTERVAL 1 month, FLOOR)")
    else {
        panic!("CREATE TABLE");
    };
    let p = t.partition_by.unwrap();
    assert_eq!((p.auto, p.partitions.len()), (Some(TimeUnit::Month), 0));
}

#[test]
fn rename_and_swap_tables() {
    round_trip("ALTER TABLE d.t RENAME t2");
    round_trip("ALTER TABLE t SWAP WITH `u u`");
    let Statement::RenameTable(r) = round_trip("ALTER TABLE t RENAME TO t2") else {
        panic!("RENAME TO");
    };
    assert_eq!((r.to.value.as_str(), r.swap), ("t2", false));
    assert!(parse_one("ALTER TABLE t SWAP u").is_err());
}

#[test]
fn create_and_alter_view_round_trip() {
    let Statement::CreateView(v) = round_trip(
        "CREATE OR REPLACE VIEW IF NOT EXISTS db.v (a COMMENT 'x', `B`) COMMENT \"c\" \
         SECURITY INVOKER AS SELECT id, dt FROM t WHERE id > 1",
    ) else {
        panic!("not a CREATE VIEW");
    };
    assert!(v.or_replace && v.if_not_exists && v.security_invoker && !v.alter);
    assert_eq!(v.columns.len(), 2);
    assert_eq!(v.columns[0].comment.as_deref(), Some("x"));
    assert_eq!(v.comment.as_deref(), Some("c"));
    let Statement::CreateView(v) = round_trip("ALTER VIEW v AS SELECT 1") else {
        panic!("not an ALTER VIEW");
    };
    assert!(v.alter && v.columns.is_empty());
    round_trip("CREATE VIEW v SECURITY NONE AS WITH x AS (SELECT 1 AS a) SELECT a FROM x");
    parse_err("CREATE VIEW v SECURITY DEFINER AS SELECT 1");
    parse_err("CREATE VIEW v (a,) AS SELECT 1");
}

#[test]
fn materialized_view_statements_round_trip() {
    let Statement::CreateMaterializedView(mv) = round_trip(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv COMMENT 'c' DISTRIBUTED BY HASH(k) BUCKETS 2 \
         REFRESH DEFERRED ASYNC START ('2026-12-07 00:00:00') EVERY (INTERVAL 2 HOUR) \
         ORDER BY (k) PROPERTIES (\"replication_num\" = \"1\") AS SELECT k, sum(v) AS s FROM t GROUP BY k",
    ) else {
        panic!("not a CREATE MATERIALIZED VIEW");
    };
    assert!(mv.if_not_exists);
    let refresh = mv.refresh.unwrap();
    assert!(refresh.deferred);
    assert_eq!(
        refresh.scheme,
        MvScheme::Async {
            start: Some("2026-12-07 00:00:00".into()),
            every: Some((2, "HOUR".into())),
        }
    );
    round_trip("CREATE MATERIALIZED VIEW mv REFRESH MANUAL AS SELECT 1");
    round_trip("REFRESH MATERIALIZED VIEW db.mv FORCE WITH SYNC MODE");
    round_trip("REFRESH MATERIALIZED VIEW mv");
    for alter in [
        "ACTIVE",
        "INACTIVE",
        "REFRESH MANUAL",
        "REFRESH ASYNC EVERY (INTERVAL 1 DAY)",
        "RENAME mv2",
    ] {
        round_trip(&format!("ALTER MATERIALIZED VIEW mv {alter}"));
    }
    round_trip("SHOW MATERIALIZED VIEWS FROM db LIKE 'm%'");
    round_trip("SHOW MATERIALIZED VIEWS WHERE name = 'mv'");
    round_trip("SHOW CREATE MATERIALIZED VIEW db.mv");
    // Refused with 1235, naming what is missing.
    for unsupported in [
        "CREATE MATERIALIZED VIEW mv PARTITION BY d REFRESH MANUAL AS SELECT 1",
        "CREATE MATERIALIZED VIEW mv REFRESH INCREMENTAL AS SELECT 1",
        "REFRESH MATERIALIZED VIEW mv PARTITION START ('a') END ('b')",
    ] {
        assert!(parse_err(unsupported).unsupported, "{unsupported}");
    }
    parse_err("ALTER MATERIALIZED VIEW mv SWAP");
    parse_err("REFRESH MATERIALIZED VIEW mv WITH FAST MODE");
}

#[test]
fn partition_batches_expand_and_round_trip() {
    let Statement::CreateTable(t) = parse_one(
        "CREATE TABLE t (k INT, d DATE) PARTITION BY RANGE(d) (START ('2026-01-30') END \
         ('2026-02-02') EVERY (INTERVAL 1 DAY), PARTITION px VALUES LESS THAN ('2027-01-01')) \
         DISTRIBUTED BY HASH(k)",
    )
    .unwrap() else {
        panic!("not a CREATE TABLE");
    };
    let names: Vec<String> = t
        .partition_by
        .unwrap()
        .partitions
        .iter()
        .map(|p| p.name.value.clone())
        .collect();
    assert_eq!(names, ["p20260130", "p20260131", "p20260201", "px"]);
    round_trip(
        "ALTER TABLE db.t ADD PARTITIONS START ('2026-03-01') END ('2026-06-01') EVERY (INTERVAL 1 MONTH)",
    );
    round_trip(
        "ALTER TABLE t ADD PARTITIONS START ('0') END ('100') EVERY (10) DISTRIBUTED BY HASH(k) BUCKETS 4",
    );
    parse_err(
        "ALTER TABLE t ADD PARTITIONS START ('2026-03-01') END ('2026-01-01') EVERY (INTERVAL 1 DAY)",
    );
    parse_err("ALTER TABLE t ADD PARTITIONS START ('x') END ('y') EVERY (1)");
    round_trip(
        r#"ALTER TABLE db.t SET ("dynamic_partition.enable" = "true", "replication_num" = "1")"#,
    );
}

#[test]
fn task_statements_round_trip() {
    for sql in [
        "SUBMIT TASK t AS INSERT INTO a SELECT * FROM b",
        "SUBMIT TASK AS INSERT INTO a VALUES (1)",
        "SUBMIT TASK `my task` SCHEDULE EVERY(INTERVAL 1 DAY) AS BACKUP SNAPSHOT s TO r",
        "SUBMIT TASK t SCHEDULE START('2026-12-07 03:00:00') EVERY(INTERVAL 10 MINUTE) \
         PROPERTIES ('keep_last' = '7') AS BACKUP SNAPSHOT d.s TO r ON (t1) PROPERTIES ('ttl' = '7 DAY')",
        "SUBMIT TASK t PROPERTIES ('on_busy' = 'skip') SCHEDULE CRON '0 3 * * *' TIME ZONE 'Europe/Berlin' \
         AS CREATE TABLE c AS SELECT 1 AS x",
        "SUBMIT TASK t SCHEDULE CRON '@daily' AS INSERT INTO a VALUES (1)",
        "ALTER TASK t SUSPEND",
        "ALTER TASK IF EXISTS t RESUME",
        "ALTER TASK t SET ('retry_count' = '2', 'retry_interval' = '30')",
        "DROP TASK t",
        "DROP TASK IF EXISTS `t` FORCE",
    ] {
        round_trip(sql);
    }
    let Statement::SubmitTask(t) = round_trip(
        "SUBMIT TASK n SCHEDULE CRON '*/5 * * * *' TIME ZONE 'UTC' AS INSERT INTO a VALUES (1)",
    ) else {
        panic!("not a task");
    };
    assert_eq!(t.name.map(|n| n.value).as_deref(), Some("n"));
    assert_eq!(
        t.schedule,
        Some(TaskSchedule::Cron {
            expr: "*/5 * * * *".into(),
            zone: Some("UTC".into())
        })
    );
    for (sql, words) in [
        (
            "SUBMIT TASK t SCHEDULE AS INSERT INTO a VALUES (1)",
            "EVERY",
        ),
        ("SUBMIT TASK t AS", "statement"),
        (
            "SUBMIT TASK t SCHEDULE EVERY(INTERVAL 1 DAY) SCHEDULE EVERY(INTERVAL 1 DAY) AS INSERT INTO a VALUES (1)",
            "more than once",
        ),
        ("ALTER TASK t", "RESUME, SUSPEND or SET"),
        ("DROP TASK", "task name"),
    ] {
        let e = parse_one(sql).expect_err(sql);
        assert!(e.to_string().contains(words), "{sql}: {e}");
    }
}
