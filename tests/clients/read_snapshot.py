"""Reads a backstop snapshot with no backstop code: pyarrow and DuckDB only (docs/format.md).

    read_snapshot.py file <repository root> <label>
    read_snapshot.py s3 <endpoint> <access key> <secret key> <bucket/prefix of the repository> <label>

Finds the label's newest committed timestamp, checks the manifest against COMMIT's sha256,
then, for every table of the manifest, queries the Parquet objects it lists with DuckDB
(`read_parquet` over the files for a local folder; over the Arrow tables pyarrow reads from
the bucket for S3), leaving out the rows its delete files name (Iceberg position deletes:
`file_path` is the data object's key, `pos` its row): with an anti-join on DuckDB's
`filename` and `file_row_number` for a folder, with a pyarrow filter for S3. Prints one JSON object: {table: {"rows", "sum_id", "distinct_names",
"min_date", "max_date", "manifest_rows"}}.
"""
import hashlib
import json
import sys

import duckdb
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def main():
    kind = sys.argv[1]
    if kind == "file":
        root, label = sys.argv[2], sys.argv[3]
        fs = pafs.LocalFileSystem()
    else:
        endpoint, access, secret, root, label = sys.argv[2:7]
        scheme, host = endpoint.split("://", 1)
        fs = pafs.S3FileSystem(access_key=access, secret_key=secret, endpoint_override=host,
                               scheme=scheme, region="us-east-1")
    snapshots = f"{root}/snapshots/{label}"
    stamps = sorted(info.base_name for info in fs.get_file_info(pafs.FileSelector(snapshots))
                    if info.type == pafs.FileType.Directory)
    committed = [ts for ts in stamps
                 if fs.get_file_info(f"{snapshots}/{ts}/COMMIT").type == pafs.FileType.File]
    ts = committed[-1]
    with fs.open_input_stream(f"{snapshots}/{ts}/COMMIT") as f:
        commit = json.loads(f.read())
    with fs.open_input_stream(f"{snapshots}/{ts}/manifest.json") as f:
        raw = f.read()
    if hashlib.sha256(raw).hexdigest() != commit["manifest_sha256"]:
        sys.exit("the manifest does not match its COMMIT")
    manifest = json.loads(raw)
    con = duckdb.connect()
    out = {}
    for table in manifest["tables"]:
        tablets = [t for p in table["partitions"] for t in p["tablets"]]
        objects = [f"{root}/{r['object']}" for t in tablets for r in t["rowsets"]]
        deletes = [f"{root}/{r['object']}" for t in tablets for r in t.get("deletes", [])]
        query = ("SELECT count(*), sum(sr_id), count(DISTINCT name), CAST(min(reg_date) AS VARCHAR), "
                 "CAST(max(reg_date) AS VARCHAR) FROM {}")
        if not objects:
            row = (0, 0, 0, None, None)
        elif kind == "file" and not deletes:
            row = con.execute(query.format("read_parquet(?, union_by_name = true)"), [objects]).fetchone()
        elif kind == "file":
            live = ("(SELECT d.* EXCLUDE (filename, file_row_number) "
                    "FROM read_parquet(?, filename = true, file_row_number = true, union_by_name = true) d "
                    "ANTI JOIN read_parquet(?) x "
                    "ON d.filename = ? || '/' || x.file_path AND d.file_row_number = x.pos)")
            row = con.execute(query.format(live), [objects, deletes, root]).fetchone()
        else:
            import pyarrow as pa
            import pyarrow.compute as pc
            gone = {}
            for key in deletes:
                d = pq.read_table(key, filesystem=fs)
                for path, pos in zip(d["file_path"].to_pylist(), d["pos"].to_pylist()):
                    gone.setdefault(f"{root}/{path}", set()).add(pos)
            parts = []
            for o in objects:
                data = pq.read_table(o, filesystem=fs)
                if o in gone:
                    rows = pa.array(range(data.num_rows), pa.int64())
                    data = data.filter(pc.invert(pc.is_in(rows, pa.array(sorted(gone[o]), pa.int64()))))
                parts.append(data)
            data = pa.concat_tables(parts)
            row = duckdb.connect().register("snapshot_table", data).execute(
                query.format("snapshot_table")).fetchone()
        out[table["name"]] = {
            "rows": row[0], "sum_id": int(row[1] or 0), "distinct_names": row[2],
            "min_date": row[3], "max_date": row[4], "manifest_rows": table["rows"],
        }
    print(json.dumps(out))


main()
