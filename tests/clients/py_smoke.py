"""Smoke test of one Python MySQL driver against a running backstop (run by tests/clients.rs).

Usage: py_smoke.py DRIVER PORT MODE [PASSWORD]
  DRIVER: pymysql | mysqlclient | connector-c | connector-pure | pyodbc
  MODE:   smoke  (connect, queries, errors, reconnect)
          auth   (PASSWORD is the right one: it connects with it, then with a wrong one)

Prints one `label value` line per step; errors from the server print `label ERR <code>`.
The Rust test compares the lines. Anything unexpected raises, so the exit code is non-zero.
"""

import re
import sys

TIMEOUT = 20


def connect(driver, port, password):
    if driver == "pymysql":
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=port, user="root", password=password,
            connect_timeout=TIMEOUT, read_timeout=TIMEOUT, write_timeout=TIMEOUT,
        )
    if driver == "mysqlclient":
        import MySQLdb

        return MySQLdb.connect(
            host="127.0.0.1", port=port, user="root", password=password,
            connect_timeout=TIMEOUT, read_timeout=TIMEOUT, write_timeout=TIMEOUT,
        )
    if driver in ("connector-c", "connector-pure"):
        import mysql.connector

        pure = driver == "connector-pure"
        if not pure and not mysql.connector.HAVE_CEXT:
            try:
                import _mysql_connector  # noqa: F401  (only for the reason it fails)

                why = "unknown reason"
            except ImportError as exc:
                why = str(exc)
            raise SystemExit(
                f"mysql-connector-python {mysql.connector.__version__} cannot load its C "
                f"extension ({why}): run scripts/install-test-deps"
            )
        conn = mysql.connector.connect(
            host="127.0.0.1", port=port, user="root", password=password,
            use_pure=pure, connection_timeout=TIMEOUT,
        )
        kind = type(conn).__name__
        want = "MySQLConnection" if pure else "CMySQLConnection"
        if kind != want:
            raise SystemExit(f"expected a {want}, got {kind}")
        return conn
    if driver == "pyodbc":
        import pyodbc

        return pyodbc.connect(
            "DRIVER={MariaDB Unicode};SERVER=127.0.0.1;"
            f"PORT={port};UID=root;PWD={password};",
            autocommit=True, timeout=TIMEOUT,
        )
    raise SystemExit(f"unknown driver {driver}")


def error_code(driver, exc):
    """The server's error code carried by a driver exception (None if there is none)."""
    if driver in ("pymysql", "mysqlclient"):
        code = exc.args[0] if exc.args else None
        return code if isinstance(code, int) else None
    if driver.startswith("connector"):
        return getattr(exc, "errno", None)
    if driver == "pyodbc":
        # pyodbc messages end in "... (<native error>) (SQLExecDirectW)"
        text = " ".join(str(a) for a in exc.args)
        codes = re.findall(r"\((\d{4})\)", text)
        return int(codes[-1]) if codes else None
    return None


def driver_error_types(driver):
    if driver == "pymysql":
        import pymysql

        return (pymysql.MySQLError,)
    if driver == "mysqlclient":
        import MySQLdb

        return (MySQLdb.MySQLError,)
    if driver.startswith("connector"):
        import mysql.connector

        return (mysql.connector.Error,)
    import pyodbc

    return (pyodbc.Error,)


def show(value):
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    return f"{type(value).__name__}:{value!r}"


def out(label, value):
    print(f"{label} {value}", flush=True)


def query(conn, sql, params=None, prepared=False):
    cur = conn.cursor(prepared=True) if prepared else conn.cursor()
    try:
        if params is None:
            cur.execute(sql)
        else:
            cur.execute(sql, params)
        rows = cur.fetchall()
        names = [d[0] for d in cur.description] if cur.description else []
        return rows, names
    finally:
        cur.close()


def expect_error(driver, conn, label, sql):
    errors = driver_error_types(driver)
    try:
        rows, _ = query(conn, sql)
    except errors as exc:
        out(label, f"ERR {error_code(driver, exc)}")
        print(f"# {label}: {exc}", file=sys.stderr)
        return
    out(label, f"OK {rows!r}")


def smoke(driver, port):
    conn = connect(driver, port, "")
    rows, names = query(conn, "SELECT 1")
    out("select1", show(rows[0][0]))
    out("select1_column", names[0])
    rows, names = query(conn, "SELECT CONCAT('a','b')")
    out("concat", show(rows[0][0]))
    out("concat_column", names[0])
    expect_error(driver, conn, "syntax", "SELEKT 1")
    expect_error(driver, conn, "unsupported", "BACKUP ALL EXTERNAL CATALOGS SNAPSHOT db.s TO r")
    rows, _ = query(conn, "SELECT 1")
    out("again", show(rows[0][0]))
    # A query with a parameter: client-side interpolation for PyMySQL and the plain
    # mysql-connector cursor, server-side prepared statements (COM_STMT_PREPARE/EXECUTE) for
    # the mysql-connector prepared cursor and ODBC.
    if driver in ("pymysql", "mysqlclient"):
        rows, _ = query(conn, "SELECT CONCAT(%s, 'x')", ("a",))
        out("param", show(rows[0][0]))
    elif driver.startswith("connector"):
        rows, _ = query(conn, "SELECT CONCAT(%s, 'x')", ("a",))
        out("param", show(rows[0][0]))
        rows, _ = query(conn, "SELECT CONCAT(%s, 'x')", ("b",), prepared=True)
        out("param_prepared", show(rows[0][0]))
    else:
        rows, _ = query(conn, "SELECT CONCAT(?, 'x')", ("a",))
        out("param", show(rows[0][0]))
        # SQLGetTypeInfo: the driver sends a UNION of literal SELECTs (a prepared statement
        # whose first branch has NULL where others have text); every row must decode.
        types = conn.cursor().getTypeInfo().fetchall()
        varchar = [t for t in types if t[0] == "VARCHAR"]
        out("typeinfo_count", len(types))
        # VARCHAR comes twice (SQL_VARCHAR 12 and SQL_WVARCHAR -9), in no fixed order.
        kinds = ",".join(sorted({str(t[1]) for t in varchar}))
        nullable = ",".join(sorted({str(t[6]) for t in varchar}))
        out("typeinfo_varchar", f"{kinds} nullable={nullable}")
    rows, _ = query(conn, "SELECT 1")
    out("after_param", show(rows[0][0]))
    conn.close()
    conn = connect(driver, port, "")
    rows, _ = query(conn, "SELECT 1")
    out("reconnect", show(rows[0][0]))
    conn.close()


def auth(driver, port, password):
    conn = connect(driver, port, password)
    rows, _ = query(conn, "SELECT 1")
    out("good", show(rows[0][0]))
    conn.close()
    errors = driver_error_types(driver)
    for label, pw in (("wrong", password + "x"), ("empty", "")):
        try:
            conn = connect(driver, port, pw)
        except errors as exc:
            out(label, f"ERR {error_code(driver, exc)}")
            print(f"# {label}: {exc}", file=sys.stderr)
            continue
        conn.close()
        out(label, "CONNECTED")


def main():
    driver, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "smoke":
        smoke(driver, port)
    elif mode == "auth":
        auth(driver, port, sys.argv[4])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
