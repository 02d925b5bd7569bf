import java.sql.*;

/**
 * DatabaseMetaData the way DBeaver and Metabase read it (MariaDB Connector/J): catalogs,
 * schemas, tables (tables and views), columns with types and sizes, primary keys, indexes,
 * imported keys, and the ResultSetMetaData of a SHOW BACKUP. One line per row, so the test
 * compares text; an error prints "ERR code state" and the run goes on.
 */
public class JdbcMetadata {
    static void rows(String what, ResultSet rs, String... cols) throws SQLException {
        int n = 0;
        while (rs.next()) {
            StringBuilder sb = new StringBuilder(what);
            for (String c : cols) sb.append(' ').append(rs.getString(c));
            System.out.println(sb);
            n++;
        }
        System.out.println(what + " rows " + n);
    }

    public static void main(String[] args) throws Exception {
        Connection c = DriverManager.getConnection(args[0], "root", "");
        DatabaseMetaData md = c.getMetaData();
        String[] steps = {"catalogs", "schemas", "tables", "views", "columns", "pk", "index",
            "imported", "exported", "backup"};
        for (String s : steps) {
            try {
                switch (s) {
                    case "catalogs": rows(s, md.getCatalogs(), "TABLE_CAT"); break;
                    case "schemas": rows(s, md.getSchemas(), "TABLE_SCHEM"); break;
                    case "tables":
                        rows(s, md.getTables("shop", null, "%", new String[] {"TABLE", "VIEW"}),
                            "TABLE_CAT", "TABLE_NAME", "TABLE_TYPE", "REMARKS");
                        break;
                    case "views":
                        rows(s, md.getTables("shop", null, "%", new String[] {"VIEW"}), "TABLE_NAME");
                        break;
                    case "columns":
                        rows(s, md.getColumns("shop", null, "member", "%"), "COLUMN_NAME",
                            "TYPE_NAME", "DATA_TYPE", "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE",
                            "IS_NULLABLE", "ORDINAL_POSITION", "COLUMN_DEF", "REMARKS",
                            "IS_AUTOINCREMENT");
                        break;
                    case "pk": rows(s, md.getPrimaryKeys("shop", null, "member"), "COLUMN_NAME"); break;
                    case "index":
                        rows(s, md.getIndexInfo("shop", null, "member", false, false), "INDEX_NAME");
                        break;
                    case "imported": rows(s, md.getImportedKeys("shop", null, "member"), "PKTABLE_NAME"); break;
                    case "exported": rows(s, md.getExportedKeys("shop", null, "member"), "FKTABLE_NAME"); break;
                    case "backup": {
                        ResultSet rs = c.createStatement().executeQuery("SHOW BACKUP FROM shop");
                        ResultSetMetaData m = rs.getMetaData();
                        StringBuilder sb = new StringBuilder("backup_columns");
                        for (int i = 1; i <= m.getColumnCount(); i++) {
                            sb.append(' ').append(m.getColumnLabel(i)).append(':')
                                .append(m.getColumnTypeName(i));
                        }
                        System.out.println(sb);
                        int n = 0;
                        while (rs.next()) n++;
                        System.out.println("backup rows " + n);
                        break;
                    }
                    default: break;
                }
            } catch (SQLException e) {
                System.out.println(s + " ERR " + e.getErrorCode() + " " + e.getSQLState() + " "
                    + e.getMessage());
            }
        }
        c.close();
    }
}
