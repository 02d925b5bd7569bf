"""SQLAlchemy 2's Inspector and pandas against backstop, the way a notebook or Superset browses
a database: schema, table and view names, columns with their types, primary key, indexes, then
pandas.read_sql_table. One line per answer, so the Rust test compares text.

usage: sqla_inspect.py {pymysql|mysqldb} PORT
"""
import sys
import warnings

import pandas
import sqlalchemy
from sqlalchemy import inspect

driver, port = sys.argv[1], sys.argv[2]
engine = sqlalchemy.create_engine(f"mysql+{driver}://root:@127.0.0.1:{port}/shop")
warned = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    insp = inspect(engine)
    print("schemas", ",".join(s for s in insp.get_schema_names() if s in ("shop", "information_schema")))
    print("tables", ",".join(insp.get_table_names(schema="shop")))
    print("views", ",".join(insp.get_view_names(schema="shop")))
    print("view_definition", insp.get_view_definition("named_members", schema="shop"))
    print("view_rows", list(pandas.read_sql("SELECT * FROM shop.named_members ORDER BY id", engine)["id"]))
    for c in insp.get_columns("member", schema="shop"):
        # Defaults and comments are not compared: SHOW CREATE TABLE quotes them "..." as
        # StarRocks does, and SQLAlchemy's MySQL dialect reads only '...' there.
        print("column", c["name"], str(c["type"]), c["nullable"])
    print("pk", insp.get_pk_constraint("member", schema="shop")["constrained_columns"])
    print("indexes", insp.get_indexes("member", schema="shop"))
    print("table_comment", insp.get_table_comment("member", schema="shop")["text"])
    frame = pandas.read_sql_table("member", engine, schema="shop").sort_values("id")
    print("read_sql_table", list(frame.columns), len(frame), list(frame["name"]))
    warned = [str(w.message) for w in caught]
for w in warned:
    print("warning", w)
