// Smoke test of a JDBC driver (MariaDB Connector/J) against a running backstop, run by
// tests/clients.rs: compiled with javac into a temp dir and run with the driver jar on the
// class path.
//
// Usage: java JdbcSmoke URL MODE [PASSWORD]
//   MODE smoke: connect, queries, errors, a PreparedStatement with a parameter, reconnect
//   MODE auth:  connect with PASSWORD, then with a wrong and an empty password
// Prints one "label value" line per step; server errors print "label ERR <code> <sqlstate>".

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public final class JdbcSmoke {
    private JdbcSmoke() {}

    private static void out(String label, String value) {
        System.out.println(label + " " + value);
        System.out.flush();
    }

    private static String show(Object v) {
        if (v instanceof String || v instanceof Integer || v instanceof Long) {
            return v.toString();
        }
        return (v == null ? "null" : v.getClass().getSimpleName() + ":" + v);
    }

    private static Connection connect(String url, String password) throws SQLException {
        DriverManager.setLoginTimeout(20);
        return DriverManager.getConnection(url, "root", password);
    }

    /** Runs sql and returns {first value, first column label}. */
    private static String[] first(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            if (!rs.next()) {
                throw new SQLException("no row for " + sql);
            }
            return new String[] {show(rs.getObject(1)), rs.getMetaData().getColumnLabel(1)};
        }
    }

    private static void expectError(Connection c, String label, String sql) {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
            out(label, "OK");
        } catch (SQLException e) {
            out(label, "ERR " + e.getErrorCode() + " " + e.getSQLState());
            System.err.println("# " + label + ": " + e);
        }
    }

    private static void smoke(String url) throws SQLException {
        try (Connection c = connect(url, "")) {
            String[] r = first(c, "SELECT 1");
            out("select1", r[0]);
            out("select1_column", r[1]);
            r = first(c, "SELECT CONCAT('a','b')");
            out("concat", r[0]);
            out("concat_column", r[1]);
            expectError(c, "syntax", "SELEKT 1");
            expectError(c, "unsupported", "BACKUP ALL EXTERNAL CATALOGS SNAPSHOT db.s TO r");
            out("again", first(c, "SELECT 1")[0]);
            try (PreparedStatement ps = c.prepareStatement("SELECT CONCAT(?, 'x')")) {
                ps.setString(1, "a");
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new SQLException("no row for the prepared statement");
                    }
                    out("param", show(rs.getObject(1)));
                }
                ps.setString(1, "b");
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new SQLException("no row for the prepared statement");
                    }
                    out("param_again", show(rs.getObject(1)));
                }
            }
            out("after_param", first(c, "SELECT 1")[0]);
        }
        try (Connection c = connect(url, "")) {
            out("reconnect", first(c, "SELECT 1")[0]);
        }
    }

    private static void auth(String url, String password) throws SQLException {
        try (Connection c = connect(url, password)) {
            out("good", first(c, "SELECT 1")[0]);
        }
        String[][] tries = {{"wrong", password + "x"}, {"empty", ""}};
        for (String[] t : tries) {
            try (Connection c = connect(url, t[1])) {
                out(t[0], "CONNECTED");
            } catch (SQLException e) {
                out(t[0], "ERR " + e.getErrorCode() + " " + e.getSQLState());
                System.err.println("# " + t[0] + ": " + e);
            }
        }
    }

    public static void main(String[] args) throws SQLException {
        String url = args[0];
        String mode = args[1];
        if (mode.equals("smoke")) {
            smoke(url);
        } else if (mode.equals("auth")) {
            auth(url, args[2]);
        } else {
            throw new IllegalArgumentException("unknown mode " + mode);
        }
    }
}
