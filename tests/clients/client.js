// tests/clients/client.js EXTENSION: attnext from Node with better-sqlite3 12.x, as the README
// shows it. tests/clients/run.sh installs better-sqlite3 into build/node (NODE_PATH).
const Database = require("better-sqlite3");

const db = new Database(":memory:");
db.loadExtension(process.argv[2]); // "attnext" after make install; entry point sqlite3_attnext_init

console.log(db.prepare("SELECT attn_classify(?) AS label").get("What a wonderful, moving film.").label);
const rows = db.prepare('SELECT entity, label, start, "end" FROM attn_entities(?)')
  .raw()
  .all("Angela Merkel met Barack Obama in Berlin on Monday.");
for (const row of rows) console.log(row.join("|"));
