// Logs in as any user and runs one query (run by tests/privileges.rs and tests/secrets.rs).
//
// Usage: java JdbcLogin URL USER PASSWORD SQL
// Prints `OK <first cell>` or `ERR <code> <SQLSTATE>`; the exit code is 0 either way.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class JdbcLogin {
    public static void main(String[] args) {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2]);
             Statement s = c.createStatement();
             ResultSet r = s.executeQuery(args[3])) {
            r.next();
            System.out.println("OK " + r.getString(1));
        } catch (SQLException e) {
            System.out.println("ERR " + e.getErrorCode() + " " + e.getSQLState());
        }
    }
}
