import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Minimal Neo4j 5.x (community, embedded) DBMS exposing Bolt only.
 * Usage: java -Xmx1g -cp 'lib/*:.' Server <homeDir> [port]
 * Env:   NEO4J_PASSWORD  (>= 8 chars) -> auth enabled, user 'neo4j' gets this password on first start.
 *        unset/empty     -> auth disabled.
 */
public class Server {
    public static void main(String[] args) throws Exception {
        long t0 = System.nanoTime();
        Path home = Path.of(args.length > 0 ? args[0] : "neo4j-home").toAbsolutePath().normalize(); // Neo4j rejects non-normalized paths ("./x")
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 7687;
        String password = System.getenv().getOrDefault("NEO4J_PASSWORD", "");
        boolean auth = !password.isEmpty();
        // Page cache in MiB (a benchmark gives it room; tests keep it small on a shared machine).
        long pagecache = Long.parseLong(System.getenv().getOrDefault("NEO4J_PAGECACHE_MB", "96"));

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, auth)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pagecache))
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("stopping");
            dbms.shutdown();               // flushes + checkpoints; clean shutdown on SIGTERM/SIGINT
            System.out.println("stopped");
            stopped.countDown();
        }, "neo4j-shutdown"));

        if (auth) {
            // First start: system DB creates user neo4j/neo4j with "password change required".
            // Embedded transactions run with full (auth-disabled) privileges, so we can set it here.
            GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
            boolean mustSet = system.executeTransactionally(
                    "SHOW USERS YIELD user, passwordChangeRequired WHERE user = 'neo4j' RETURN passwordChangeRequired",
                    Map.of(), r -> r.hasNext() && (Boolean) r.next().get("passwordChangeRequired"));
            if (mustSet) {
                system.executeTransactionally(
                        "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
                System.out.println("initial password set for user neo4j");
            }
        }

        // Confirm Bolt actually accepts TCP connections before announcing readiness.
        for (int i = 0; ; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                break;
            } catch (Exception e) {
                if (i > 600) throw e;
                Thread.sleep(100);
            }
        }
        System.out.printf("ready bolt://127.0.0.1:%d auth=%s startup=%.2fs%n",
                port, auth, (System.nanoTime() - t0) / 1e9);
        System.out.flush();
        stopped.await();
    }
}
