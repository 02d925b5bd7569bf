"""pandas to_sql / read_sql round trip against backstop (SQLAlchemy 2 + PyMySQL or mysqlclient).

Usage: pandas_roundtrip.py PORT [pymysql|mysqldb]. Prints one line per step;
tests/it/functions.rs checks them.
"""

import sys

import pandas as pd
import sqlalchemy as sa

port = int(sys.argv[1])
driver = sys.argv[2] if len(sys.argv) > 2 else "pymysql"
server = sa.create_engine(f"mysql+{driver}://root@127.0.0.1:{port}/")
with server.begin() as c:
    c.exec_driver_sql("CREATE DATABASE pd")
engine = sa.create_engine(f"mysql+{driver}://root@127.0.0.1:{port}/pd")

frame = pd.DataFrame(
    {
        "id": [1, 2, 3],
        "price": [1.5, 2.25, None],
        "name": ["a", None, "ccc"],
        "at": pd.to_datetime(["2024-01-02 03:04:05", "2024-02-03 00:00:00", None]),
        "ok": [True, False, True],
    }
)
# index=False: to_sql would otherwise add CREATE INDEX, which StarRocks tables do not have.
print("to_sql", frame.to_sql("frame", engine, index=False))


def same(back):
    back = back.sort_values("id").reset_index(drop=True)
    # MySQL's BOOL is TINYINT(1): drivers read 0 and 1.
    back["ok"] = back["ok"].astype(bool)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


same(pd.read_sql_query("SELECT id, price, name, at, ok FROM frame", engine))
print("read_sql_query equal")
same(pd.read_sql_table("frame", engine))
print("read_sql_table equal")
