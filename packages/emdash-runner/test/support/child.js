// A Node process that uses the runner and then ends without terminateAll():
//   node child.js DBFILE DATADIR BINARY HOW
// HOW: "end" (the script just ends), "exit" (process.exit), "throw" (uncaught exception),
// "hang" (waits to be killed). Prints {"host": pid, "plugins": [pids]} once a call worked.
import { Kysely } from "kysely";
import { createDialect } from "emdash/db/sqlite";

import { createSandboxRunner } from "../../src/index.js";
import { descendants } from "./site.js";

const [file, dataDir, binary, how] = process.argv.slice(2);
const db = new Kysely({ dialect: createDialect({ url: `file:${file}` }) });
const runner = createSandboxRunner({ db, binary, dataDir, logLevel: "warn" });
const instance = await runner.load(
  { id: "orphan", version: "1.0.0", capabilities: [], allowedHosts: [], storage: {}, hooks: [], routes: ["ping"], admin: {} },
  "export default { routes: { ping: { handler: async () => ({ pong: true }) } } };",
);
const answer = await instance.invokeRoute("ping", {}, { url: "http://x/", method: "POST", headers: {}, meta: {} });
if (answer?.pong !== true) throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
const host = runner.hostPid;
process.stdout.write(`${JSON.stringify({ host, plugins: descendants(host) })}\n`);
await db.destroy();
if (how === "exit") process.exit(0);
if (how === "throw") setImmediate(() => { throw new Error("deliberate uncaught exception"); });
if (how === "hang") setInterval(() => {}, 1000);
// "end": nothing left to do; the runner must not keep Node running.
