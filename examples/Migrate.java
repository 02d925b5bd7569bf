import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * Moves one database from one backstop server to another through a repository, then proves the
 * copy: BACKUP on the source and RESTORE on the target, each waited for with "sync", then
 * CHECKSUM TABLE of every table on both servers.
 *
 * <pre>
 * javac -cp /usr/share/java/mariadb-java-client.jar -d out examples/Migrate.java
 * java -cp /usr/share/java/mariadb-java-client.jar:out Migrate SOURCE_HOST:PORT TARGET_HOST:PORT DATABASE LOCATION
 * </pre>
 *
 * Uses MariaDB Connector/J (Debian: libmariadb-java). Passwords of root come from SOURCE_PASSWORD
 * and TARGET_PASSWORD (empty by default); REPOSITORY names the repository (default: migration).
 * Exit status: 0 when every table's checksum matches, 1 when one differs or a job fails (its
 * error is printed), 2 on wrong usage.
 */
public class Migrate {
    static Connection connect(String addr, String password) throws SQLException {
        // No socketTimeout: a "sync" statement lasts as long as its job.
        return DriverManager.getConnection("jdbc:mariadb://" + addr + "/", "root", password);
    }

    static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null ? fallback : v;
    }

    static void ensureRepository(Connection c, String repo, String location, boolean readOnly)
            throws SQLException {
        try (Statement s = c.createStatement()) {
            try (ResultSet r = s.executeQuery("SHOW REPOSITORIES")) {
                while (r.next()) {
                    if (r.getString("RepoName").equals(repo)) {
                        return;
                    }
                }
            }
            s.execute("CREATE " + (readOnly ? "READ ONLY " : "") + "REPOSITORY " + repo
                    + " WITH BROKER ON LOCATION \"" + location + "\"");
        }
    }

    /** Runs a BACKUP or RESTORE with "sync" = "true" and returns {Timestamp, State, Objects, Bytes}. */
    static String[] runJob(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            // execute(), not executeUpdate(): the statement answers a result set.
            s.execute(sql);
            try (ResultSet r = s.getResultSet()) {
                r.next();
                return new String[] {
                    r.getString("Timestamp"), r.getString("State"),
                    r.getString("Objects"), r.getString("Bytes"),
                };
            }
        }
    }

    static String checksum(Connection c, String table) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet r = s.executeQuery("CHECKSUM TABLE " + table)) {
            r.next();
            return r.getString(2);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Migrate SOURCE_HOST:PORT TARGET_HOST:PORT DATABASE LOCATION");
            System.exit(2);
        }
        String db = args[2];
        String location = args[3];
        String repo = env("REPOSITORY", "migration");
        String label = "migrate_" + db;
        try (Connection source = connect(args[0], env("SOURCE_PASSWORD", ""));
                Connection target = connect(args[1], env("TARGET_PASSWORD", ""))) {
            String ts;
            try {
                ensureRepository(source, repo, location, false);
                String[] backup = runJob(source, "BACKUP SNAPSHOT " + db + "." + label + " TO "
                        + repo + " PROPERTIES (\"sync\" = \"true\")");
                ts = backup[0];
                System.out.println("backup " + label + " " + ts + " " + backup[1]
                        + " objects=" + backup[2] + " bytes=" + backup[3]);
                ensureRepository(target, repo, location, true);
                String[] restore = runJob(target, "RESTORE SNAPSHOT " + db + "." + label
                        + " FROM " + repo + " PROPERTIES (\"backup_timestamp\" = \"" + ts
                        + "\", \"sync\" = \"true\")");
                System.out.println("restore " + label + " " + ts + " " + restore[1]);
            } catch (SQLException e) {
                // A job that ended CANCELLED: error 5064 with the job's status.
                System.err.println("migration of " + db + " failed: " + e.getErrorCode() + " "
                        + e.getMessage());
                System.exit(1);
                return;
            }
            List<String> tables = new ArrayList<>();
            try (Statement s = source.createStatement();
                    ResultSet r = s.executeQuery("SHOW TABLES FROM " + db)) {
                while (r.next()) {
                    tables.add(r.getString(1));
                }
            }
            int different = 0;
            for (String table : tables) {
                String a = checksum(source, db + "." + table);
                String b = checksum(target, db + "." + table);
                if (a.equals(b)) {
                    System.out.println("checksum " + db + "." + table + " " + a + " OK");
                } else {
                    System.out.println("checksum " + db + "." + table + " source=" + a
                            + " target=" + b + " DIFFERENT");
                    different++;
                }
            }
            if (different != 0) {
                System.err.println("migration of " + db + ": " + different + " of "
                        + tables.size() + " tables differ");
                System.exit(1);
            }
            System.out.println("migration of " + db + " verified: " + tables.size() + " tables");
        }
    }
}
