// Smoke test of node's mysql2 driver against a running backstop (run by tests/it/clients.rs):
// text queries, server-side prepared statements (execute), error codes, reconnect. Prints one
// `label value` line per step, as py_smoke.py does.
//
// usage: node node_smoke.js PORT   (NODE_PATH names the folder that holds mysql2)
const mysql = require('mysql2/promise');

async function main() {
  const port = Number(process.argv[2]);
  const options = { host: '127.0.0.1', port, user: 'root', password: '', connectTimeout: 20000 };
  let conn = await mysql.createConnection(options);
  const out = (label, value) => console.log(`${label} ${value}`);
  const expectError = async (label, sql) => {
    try {
      const [rows] = await conn.query(sql);
      out(label, `OK ${JSON.stringify(rows)}`);
    } catch (e) {
      out(label, `ERR ${e.errno} ${e.sqlState}`);
    }
  };
  let [rows, fields] = await conn.query('SELECT 1');
  out('select1', Object.values(rows[0])[0]);
  out('select1_column', fields[0].name);
  [rows, fields] = await conn.query("SELECT CONCAT('a','b')");
  out('concat', Object.values(rows[0])[0]);
  out('concat_column', fields[0].name);
  await expectError('syntax', 'SELEKT 1');
  await expectError('unsupported', 'BACKUP ALL EXTERNAL CATALOGS SNAPSHOT db.s TO r');
  [rows] = await conn.query('SELECT 1');
  out('again', Object.values(rows[0])[0]);
  // Client-side placeholders (query), then a server-side prepared statement (execute:
  // COM_STMT_PREPARE / EXECUTE, binary rows), run twice.
  [rows] = await conn.query("SELECT CONCAT(?, 'x') AS v", ['a']);
  out('param', rows[0].v);
  for (const value of ['b', 'c']) {
    [rows] = await conn.execute("SELECT CONCAT(?, 'x') AS v, ? + 1 AS n", [value, 41]);
    out('prepared', `${rows[0].v} ${rows[0].n}`);
  }
  try {
    await conn.execute('SELECT * FROM no_such_db.t WHERE id = ?', [1]);
  } catch (e) {
    out('prepared_error', `ERR ${e.errno} ${e.sqlState}`);
  }
  [rows] = await conn.query('SELECT 1');
  out('after_param', Object.values(rows[0])[0]);
  await conn.end();
  conn = await mysql.createConnection(options);
  [rows] = await conn.query('SELECT 1');
  out('reconnect', Object.values(rows[0])[0]);
  await conn.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
