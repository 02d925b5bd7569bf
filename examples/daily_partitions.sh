#!/usr/bin/env bash
# The backup plan StarRocks' documentation suggests: a table with dynamic partitioning (one
# partition per day, created ahead and dropped after a week by the server), a daily BACKUP of
# only the day's partition, and, on another server, a RESTORE of every daily snapshot.
#
#   examples/daily_partitions.sh setup  SERVER LOCATION   # repository, database and table
#   examples/daily_partitions.sh backup SERVER [YYYYMMDD] # once a day (cron, after midnight UTC):
#                                                         # the day's partition, yesterday's by default
#   examples/daily_partitions.sh restore SERVER LOCATION  # every daily snapshot, oldest first
#
# SERVER is HOST:PORT; root's password comes from MYSQL_PWD (empty by default). Days are UTC,
# as the server's dynamic partitions are. Exit status: 0 on success, 2 on wrong usage, the
# mysql client's status when a statement fails (the job's error is on stderr).
set -euo pipefail

usage() {
    echo "usage: $0 {setup SERVER LOCATION | backup SERVER [YYYYMMDD] | restore SERVER LOCATION}" >&2
    exit 2
}
[ $# -ge 2 ] || usage
action=$1 server=$2
case $server in *:*) ;; *) usage ;; esac
db=web table=events repo=daily

sql() {
    mysql --no-defaults --batch --skip-column-names -h "${server%:*}" -P "${server##*:}" \
        -u root -e "$1"
}

case $action in
setup)
    [ $# -eq 3 ] || usage
    sql "CREATE REPOSITORY $repo WITH BROKER ON LOCATION \"$3\""
    sql "CREATE DATABASE $db"
    sql "CREATE TABLE $db.$table (id BIGINT NOT NULL, day DATE NOT NULL, url STRING)
         DUPLICATE KEY(id) PARTITION BY RANGE(day) () DISTRIBUTED BY HASH(id) BUCKETS 4
         PROPERTIES (\"dynamic_partition.enable\" = \"true\", \"dynamic_partition.time_unit\" = \"DAY\",
                     \"dynamic_partition.start\" = \"-7\", \"dynamic_partition.end\" = \"3\",
                     \"dynamic_partition.prefix\" = \"p\")"
    sql "SHOW DYNAMIC PARTITION TABLES FROM $db" | cut -f1-6
    ;;
backup)
    [ $# -le 3 ] || usage
    # A finished day: the partition gets no more rows once its day is over.
    day=${3:-$(date -u -d yesterday +%Y%m%d)}
    row=$(sql "BACKUP SNAPSHOT $db.${table}_$day TO $repo ON ($table PARTITION (p$day))
               PROPERTIES (\"sync\" = \"true\")")
    echo "backup ${table}_$day $(cut -f4 <<<"$row") $(cut -f6 <<<"$row") objects=$(cut -f7 <<<"$row")"
    ;;
restore)
    [ $# -eq 3 ] || usage
    if ! sql "SHOW REPOSITORIES" | cut -f2 | grep -x "$repo" >/dev/null; then
        sql "CREATE READ ONLY REPOSITORY $repo WITH BROKER ON LOCATION \"$3\""
    fi
    # One line per snapshot: label and its timestamps (newline-separated in one cell).
    { sql "SHOW SNAPSHOT ON $repo" | cut -f1 | grep "^${table}_" || true; } | sort | while read -r label; do
        for ts in $(sql "SHOW SNAPSHOT ON $repo WHERE SNAPSHOT = '$label'" </dev/null | cut -f2 | sed 's/\\n/ /g'); do
            row=$(sql "RESTORE SNAPSHOT $db.$label FROM $repo
                       PROPERTIES (\"backup_timestamp\" = \"$ts\", \"sync\" = \"true\")" </dev/null)
            echo "restore $label $ts $(cut -f6 <<<"$row")"
        done
    done
    sql "SELECT day, count(*) FROM $db.$table GROUP BY day ORDER BY day"
    ;;
*)
    usage
    ;;
esac
