#!/usr/bin/env bash
# Moves one database from one backstop server to another through a repository, then proves
# the copy: BACKUP on the source and RESTORE on the target, each waited for with "sync", then
# CHECKSUM TABLE of every table on both servers.
#
#   examples/migrate.sh SOURCE_HOST:PORT TARGET_HOST:PORT DATABASE LOCATION
#   examples/migrate.sh 127.0.0.1:9030 10.0.0.7:9030 sr_hub file:///mnt/backups
#
# Both servers must reach LOCATION (a shared folder, or s3://bucket/prefix with the storage's
# credentials in the AWS environment of each server). Passwords of root come from
# SOURCE_PASSWORD and TARGET_PASSWORD (empty by default); REPOSITORY names the repository
# (default: migration). Exit status: 0 when every table's checksum matches, 1 when one differs,
# 2 on wrong usage, and the mysql client's status when a statement fails (the job's error is on
# stderr). Stop loading into DATABASE on the source while this runs: rows loaded after the
# snapshot are not in it, and would show as a difference.
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 SOURCE_HOST:PORT TARGET_HOST:PORT DATABASE LOCATION" >&2
    exit 2
fi
source_addr=$1 target_addr=$2 db=$3 location=$4
repo=${REPOSITORY:-migration}
label="migrate_${db}"

# sql SERVER PASSWORD STATEMENT: runs one statement, prints its rows tab-separated, no header.
sql() {
    MYSQL_PWD=$2 mysql --no-defaults --batch --skip-column-names \
        -h "${1%:*}" -P "${1##*:}" -u root -e "$3"
}

# ensure_repository SERVER PASSWORD [READ ONLY]: creates the repository unless it is there.
ensure_repository() {
    if ! sql "$1" "$2" "SHOW REPOSITORIES" | cut -f2 | grep -x "$repo" >/dev/null; then
        sql "$1" "$2" "CREATE ${3:-} REPOSITORY $repo WITH BROKER ON LOCATION \"$location\""
    fi
}

src_pw=${SOURCE_PASSWORD:-} dst_pw=${TARGET_PASSWORD:-}

ensure_repository "$source_addr" "$src_pw"
# One row: JobId Kind Label Timestamp DbName State Objects Bytes TransferredObjects ...
backup=$(sql "$source_addr" "$src_pw" \
    "BACKUP SNAPSHOT $db.$label TO $repo PROPERTIES (\"sync\" = \"true\")")
timestamp=$(cut -f4 <<<"$backup")
echo "backup $label $timestamp $(cut -f6 <<<"$backup") objects=$(cut -f7 <<<"$backup") bytes=$(cut -f8 <<<"$backup")"

ensure_repository "$target_addr" "$dst_pw" "READ ONLY"
restore=$(sql "$target_addr" "$dst_pw" \
    "RESTORE SNAPSHOT $db.$label FROM $repo PROPERTIES (\"backup_timestamp\" = \"$timestamp\", \"sync\" = \"true\")")
echo "restore $label $timestamp $(cut -f6 <<<"$restore")"

different=0
tables=0
for table in $(sql "$source_addr" "$src_pw" "SHOW TABLES FROM $db"); do
    tables=$((tables + 1))
    a=$(sql "$source_addr" "$src_pw" "CHECKSUM TABLE $db.$table" | cut -f2)
    b=$(sql "$target_addr" "$dst_pw" "CHECKSUM TABLE $db.$table" | cut -f2)
    if [ "$a" = "$b" ]; then
        echo "checksum $db.$table $a OK"
    else
        echo "checksum $db.$table source=$a target=$b DIFFERENT"
        different=$((different + 1))
    fi
done

if [ "$different" -ne 0 ]; then
    echo "migration of $db: $different of $tables tables differ" >&2
    exit 1
fi
echo "migration of $db verified: $tables tables"
