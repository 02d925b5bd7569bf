#!/usr/bin/env python3
"""Moves one database from one backstop server to another through a repository, then proves
the copy: BACKUP on the source and RESTORE on the target, each waited for with "sync", then
CHECKSUM TABLE of every table on both servers.

    python3 examples/migrate.py SOURCE_HOST:PORT TARGET_HOST:PORT DATABASE LOCATION

Needs PyMySQL (pip install pymysql). Passwords of root come from SOURCE_PASSWORD and
TARGET_PASSWORD (empty by default); REPOSITORY names the repository (default: migration).
Exit status: 0 when every table's checksum matches, 1 when one differs or a job fails (its
error is printed), 2 on wrong usage.
"""

import os
import sys

import pymysql


def connect(addr, password):
    host, _, port = addr.rpartition(":")
    # No read timeout: a "sync" statement lasts as long as its job.
    return pymysql.connect(host=host, port=int(port), user="root", password=password,
                           autocommit=True)


def ensure_repository(conn, repo, location, read_only=False):
    with conn.cursor() as cur:
        cur.execute("SHOW REPOSITORIES")
        if any(row[1] == repo for row in cur.fetchall()):
            return
        ro = "READ ONLY " if read_only else ""
        cur.execute(f'CREATE {ro}REPOSITORY {repo} WITH BROKER ON LOCATION "{location}"')


def run_job(conn, sql):
    """Runs a BACKUP or RESTORE with "sync" = "true": its one row, as a dict."""
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql)
        return cur.fetchone()


def checksum(conn, table):
    with conn.cursor() as cur:
        cur.execute(f"CHECKSUM TABLE {table}")
        return cur.fetchone()[1]


def main(argv):
    if len(argv) != 5:
        print(f"usage: {argv[0]} SOURCE_HOST:PORT TARGET_HOST:PORT DATABASE LOCATION",
              file=sys.stderr)
        return 2
    _, source_addr, target_addr, db, location = argv
    repo = os.environ.get("REPOSITORY", "migration")
    label = f"migrate_{db}"
    source = connect(source_addr, os.environ.get("SOURCE_PASSWORD", ""))
    target = connect(target_addr, os.environ.get("TARGET_PASSWORD", ""))
    try:
        ensure_repository(source, repo, location)
        backup = run_job(source, f'BACKUP SNAPSHOT {db}.{label} TO {repo} '
                                 f'PROPERTIES ("sync" = "true")')
        ts = backup["Timestamp"]
        print(f"backup {label} {ts} {backup['State']} objects={backup['Objects']} "
              f"bytes={backup['Bytes']}")
        ensure_repository(target, repo, location, read_only=True)
        restore = run_job(target, f'RESTORE SNAPSHOT {db}.{label} FROM {repo} PROPERTIES '
                                  f'("backup_timestamp" = "{ts}", "sync" = "true")')
        print(f"restore {label} {ts} {restore['State']}")
    except pymysql.MySQLError as e:
        # A job that ended CANCELLED: error 5064 with the job's status.
        print(f"migration of {db} failed: {e}", file=sys.stderr)
        return 1

    with source.cursor() as cur:
        cur.execute(f"SHOW TABLES FROM {db}")
        tables = [row[0] for row in cur.fetchall()]
    different = 0
    for table in tables:
        a = checksum(source, f"{db}.{table}")
        b = checksum(target, f"{db}.{table}")
        if a == b:
            print(f"checksum {db}.{table} {a} OK")
        else:
            print(f"checksum {db}.{table} source={a} target={b} DIFFERENT")
            different += 1
    if different:
        print(f"migration of {db}: {different} of {len(tables)} tables differ", file=sys.stderr)
        return 1
    print(f"migration of {db} verified: {len(tables)} tables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
