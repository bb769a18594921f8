// The runner against the real plugin-sandbox binary, real workerd, and SQLite files made by
// EmDash's own migrations. Every wait has a deadline.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { Kysely, PostgresDialect } from "kysely";
import { createDialect } from "emdash/db/sqlite";

import { PluginSandboxRunner, SandboxUnavailableError, createSandboxRunner } from "../src/index.js";
import { BINARY, SKIP, alive, descendants, makeSite, packageDir, plugin, request, waitFor } from "./support/site.js";

if (SKIP) console.log(`# skipping the runner tests: ${SKIP}`);

const ECHO = plugin("echo", {
  capabilities: ["content:read", "content:write"],
  hooks: ["content:beforeSave", "content:afterSave"],
  routes: ["hi", "boom", "slow", "hang", "spin"],
  code: `
export default {
  hooks: {
    "content:beforeSave": { handler: async (event) => ({ ...event.content, touched: true }) },
    "content:afterSave": { handler: async () => {} },
  },
  routes: {
    hi: { handler: async (routeCtx, ctx) => ({ hello: routeCtx.input?.name ?? "world", url: routeCtx.request.url, method: routeCtx.request.method, plugin: ctx.plugin.id }) },
    boom: { handler: async () => { throw new Error("kaboom: the widget is missing"); } },
    slow: { handler: async () => { await new Promise((r) => setTimeout(r, 1500)); return { slow: true }; } },
    hang: { handler: async () => { await new Promise(() => {}); } },
    spin: { handler: async () => { for (;;) {} } },
  },
};`,
});

// Runners made by a test are stopped after it, whatever happens.
const runners = [];
function makeRunner(options) {
  const runner = createSandboxRunner({ binary: BINARY, logLevel: "warn", ...options });
  runners.push(runner);
  return runner;
}
async function stopAll() {
  while (runners.length) await runners.pop().terminateAll();
}

describe("factory and availability", { skip: SKIP }, () => {
  let site;
  before(async () => {
    site = await makeSite();
  });
  after(async () => {
    await stopAll();
    await site.close();
  });

  test("createSandboxRunner is synchronous and starts nothing", () => {
    const before = descendants(process.pid).length;
    const runner = makeRunner({ db: site.db, dataDir: site.dataDir });
    assert.ok(runner instanceof PluginSandboxRunner);
    assert.equal(typeof runner.then, "undefined");
    assert.equal(runner.isAvailable(), true);
    assert.equal(runner.isHealthy(), false);
    assert.equal(descendants(process.pid).length, before);
    assert.equal(runner.settings.binary, BINARY);
  });

  test("a missing binary: isAvailable() false, one warning saying what to install, load() rejects", async () => {
    const warnings = [];
    const warn = console.warn;
    console.warn = (...args) => warnings.push(args.join(" "));
    try {
      const missing = path.join(site.dir, "no-such-plugin-sandbox");
      const a = makeRunner({ db: site.db, binary: missing });
      const b = makeRunner({ db: site.db, binary: missing });
      assert.equal(a.isAvailable(), false);
      assert.equal(a.isAvailable(), false);
      assert.equal(b.isAvailable(), false);
      const mine = warnings.filter((w) => w.includes(missing));
      assert.equal(mine.length, 1, `one warning, got ${JSON.stringify(warnings)}`);
      assert.match(mine[0], /^\[plugin-sandbox\] .*install the plugin-sandbox binary/);
      await assert.rejects(a.load(ECHO.manifest, ECHO.code), (err) => {
        assert.ok(err instanceof SandboxUnavailableError);
        assert.equal(err.name, "SandboxUnavailableError");
        assert.match(err.message, /^Plugin sandbox unavailable for echo:1\.0\.0: .*no-such-plugin-sandbox/);
        return true;
      });
    } finally {
      console.warn = warn;
    }
  });

  test("a binary that cannot run is unavailable too", () => {
    const notRunnable = path.join(site.dir, "plugin-sandbox-text");
    writeFileSync(notRunnable, "not a program\n", { mode: 0o644 });
    const warn = console.warn;
    console.warn = () => {};
    try {
      assert.equal(makeRunner({ db: site.db, binary: notRunnable }).isAvailable(), false);
    } finally {
      console.warn = warn;
    }
  });

  test("a binary too old for embedded mode is unavailable, and the warning names the version needed", () => {
    const old = path.join(site.dir, "plugin-sandbox-0.1");
    writeFileSync(old, "#!/bin/sh\necho 'plugin-sandbox 0.1.0'\n", { mode: 0o755 });
    const warnings = [];
    const warn = console.warn;
    console.warn = (...args) => warnings.push(args.join(" "));
    try {
      assert.equal(makeRunner({ db: site.db, binary: old }).isAvailable(), false);
    } finally {
      console.warn = warn;
    }
    const mine = warnings.filter((w) => w.includes(old));
    assert.equal(mine.length, 1, warnings.join("\n"));
    assert.match(mine[0], /plugin-sandbox 0\.1\.0.*needs plugin-sandbox 0\.2\.0 or later/);
  });

  test("a PostgreSQL site without PLUGIN_SANDBOX_DB is unavailable at once, saying what to set", () => {
    const pg = new Kysely({ dialect: new PostgresDialect({ pool: { connect: async () => { throw new Error("not used"); }, end: async () => {} } }) });
    const warn = console.warn;
    const warnings = [];
    console.warn = (...args) => warnings.push(args.join(" "));
    try {
      const runner = makeRunner({ db: pg });
      assert.equal(runner.isAvailable(), false);
      assert.match(runner.unavailableReason, /PostgreSQL.*PLUGIN_SANDBOX_DB/);
      assert.ok(warnings.some((w) => w.startsWith("[plugin-sandbox]") && w.includes("PLUGIN_SANDBOX_DB")));
    } finally {
      console.warn = warn;
    }
  });

  test("an in-memory database: unavailable once discovered, load() says why; PLUGIN_SANDBOX_DB overrides", async () => {
    const memory = new Kysely({ dialect: createDialect({ url: ":memory:" }) });
    const warn = console.warn;
    const warnings = [];
    console.warn = (...args) => warnings.push(args.join(" "));
    try {
      const runner = makeRunner({ db: memory, dataDir: site.dataDir });
      await assert.rejects(runner.load(ECHO.manifest, ECHO.code), (err) => {
        assert.ok(err instanceof SandboxUnavailableError);
        assert.match(err.message, /in memory/);
        return true;
      });
      assert.equal(runner.isAvailable(), false);
      assert.match(runner.unavailableReason, /in memory/);
      assert.ok(warnings.some((w) => w.includes("in memory")));

      const saved = process.env.PLUGIN_SANDBOX_DB;
      process.env.PLUGIN_SANDBOX_DB = `sqlite:${site.file}`;
      let explicit;
      try {
        explicit = makeRunner({ db: memory, dataDir: site.dataDir });
      } finally {
        if (saved === undefined) delete process.env.PLUGIN_SANDBOX_DB;
        else process.env.PLUGIN_SANDBOX_DB = saved;
      }
      assert.equal(explicit.isAvailable(), true);
      const instance = await explicit.load(ECHO.manifest, ECHO.code);
      assert.deepEqual((await instance.invokeRoute("hi", { name: "Bo" }, request())).hello, "Bo");
      assert.equal(explicit.settings.database, `sqlite:${site.file}`);
    } finally {
      console.warn = warn;
      await memory.destroy();
    }
  });
});

for (const emdash of ["emdash", "emdash-0.31"]) {
  describe(`load, hooks, routes, terminate (site made by ${emdash})`, { skip: SKIP }, () => {
    let site;
    let runner;
    let echo;
    before(async () => {
      site = await makeSite({ emdash });
      runner = makeRunner({ db: site.db, dataDir: site.dataDir });
      echo = await runner.load(ECHO.manifest, ECHO.code);
    });
    after(async () => {
      await stopAll();
      await site.close();
    });

    test("load returns EmDash's instance shape; the host runs; the database is the site's", () => {
      assert.equal(echo.id, "echo:1.0.0");
      assert.equal(typeof echo.invokeHook, "function");
      assert.equal(typeof echo.invokeRoute, "function");
      assert.equal(typeof echo.terminate, "function");
      assert.equal(runner.isHealthy(), true);
      assert.equal(runner.settings.database, `sqlite:${site.file}`);
      assert.ok(alive(runner.hostPid));
    });

    test("health and metrics on the host's socket, no token needed", async () => {
      const get = (target) =>
        new Promise((resolve, reject) => {
          http
            .get({ socketPath: runner.socketPath, path: target, agent: false }, (res) => {
              let body = "";
              res.setEncoding("utf8");
              res.on("data", (c) => (body += c));
              res.on("end", () => resolve({ status: res.statusCode, body }));
            })
            .on("error", reject);
        });
      const health = await get("/healthz");
      assert.equal(health.status, 200);
      assert.equal(JSON.parse(health.body).plugins.echo, "ready");
      const metrics = await get("/metrics");
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /^plugin_sandbox_/m);
      assert.equal((await get("/v1/plugins")).status, 401);
    });

    test("invokeHook returns the hook's value", async () => {
      const value = await echo.invokeHook("content:beforeSave", { content: { title: "Hi" }, collection: "posts", isNew: true });
      assert.deepEqual(value, { title: "Hi", touched: true });
      // A hook that returns nothing: EmDash's runner gives undefined, the host answers {"value":null}.
      assert.ok((await echo.invokeHook("content:afterSave", { content: { id: "1" }, collection: "posts", isNew: true })) == null);
    });

    test("invokeRoute returns the route's JSON and passes the request on", async () => {
      const answer = await echo.invokeRoute("hi", { name: "Ada" }, request("http://site.test/_emdash/api/plugins/echo/hi", "POST"));
      assert.deepEqual(answer, { hello: "Ada", url: "http://site.test/_emdash/api/plugins/echo/hi", method: "POST", plugin: "echo" });
      assert.equal((await echo.invokeRoute("hi", undefined, request())).hello, "world");
    });

    test("many calls at once, all answered", async () => {
      const answers = await Promise.all(
        Array.from({ length: 64 }, (_, i) => echo.invokeRoute("hi", { name: `n${i}` }, request())),
      );
      assert.deepEqual(answers.map((a) => a.hello), Array.from({ length: 64 }, (_, i) => `n${i}`));
    });

    test("a route that throws: EmDash's message shape, our code", async () => {
      await assert.rejects(echo.invokeRoute("boom", {}, request()), (err) => {
        assert.equal(err.message, "Plugin echo:1.0.0 route boom failed: kaboom: the widget is missing");
        assert.equal(err.code, "plugin_error");
        assert.equal(err.status, 500);
        return true;
      });
      await assert.rejects(echo.invokeRoute("nope", {}, request()), (err) => {
        assert.match(err.message, /^Plugin echo:1\.0\.0 route nope failed: /);
        assert.equal(err.code, "not_found");
        return true;
      });
      // The plugin is fine afterwards.
      assert.equal((await echo.invokeRoute("hi", { name: "again" }, request())).hello, "again");
    });

    test("a bad bundle is refused with the host's list of problems", async () => {
      const bad = plugin("broken", { capabilities: ["no:such-capability"], routes: ["x"], code: "export default {};" });
      await assert.rejects(runner.load(bad.manifest, bad.code), (err) => {
        assert.match(err.message, /^plugin-sandbox could not load plugin broken:1\.0\.0: /);
        assert.match(err.message, /no:such-capability/);
        assert.equal(err.status, 400);
        return true;
      });
    });

    test("terminate: the instance refuses calls, the others carry on", async () => {
      const other = plugin("other", { routes: ["hi"], code: "export default { routes: { hi: { handler: async () => ({ other: true }) } } };" });
      const instance = await runner.load(other.manifest, other.code);
      assert.deepEqual(await instance.invokeRoute("hi", {}, request()), { other: true });
      await instance.terminate();
      await instance.terminate(); // twice is fine
      await assert.rejects(instance.invokeRoute("hi", {}, request()), SandboxUnavailableError);
      assert.equal((await echo.invokeRoute("hi", { name: "still" }, request())).hello, "still");
      // Loaded again, it works again.
      const again = await runner.load(other.manifest, other.code);
      assert.deepEqual(await again.invokeRoute("hi", {}, request()), { other: true });
    });

    test("a new version replaces the old one; terminating the old one leaves the new one running", async () => {
      const v = (version, answer) =>
        plugin("versioned", { version, routes: ["which"], code: `export default { routes: { which: { handler: async () => (${JSON.stringify(answer)}) } } };` });
      const one = v("1.0.0", { v: 1 });
      const two = v("2.0.0", { v: 2 });
      const old = await runner.load(one.manifest, one.code);
      assert.deepEqual(await old.invokeRoute("which", {}, request()), { v: 1 });
      const current = await runner.load(two.manifest, two.code);
      assert.equal(current.id, "versioned:2.0.0");
      assert.deepEqual(await current.invokeRoute("which", {}, request()), { v: 2 });
      await assert.rejects(old.invokeRoute("which", {}, request()), SandboxUnavailableError);
      await old.terminate();
      assert.deepEqual(await current.invokeRoute("which", {}, request()), { v: 2 });
    });
  });
}

describe("limits", { skip: SKIP }, () => {
  let site;
  let echo;
  before(async () => {
    site = await makeSite();
    const runner = makeRunner({ db: site.db, dataDir: site.dataDir, limits: { wallTimeMs: 700, cpuMs: 50 } });
    echo = await runner.load(ECHO.manifest, ECHO.code);
  });
  after(async () => {
    await stopAll();
    await site.close();
  });

  test("wall time: EmDash's wall-time message, code wall_time_exceeded", async () => {
    const started = Date.now();
    await assert.rejects(echo.invokeRoute("hang", {}, request()), (err) => {
      assert.equal(err.message, "Plugin echo exceeded wall-time limit of 700ms during route:hang");
      assert.equal(err.code, "wall_time_exceeded");
      return true;
    });
    assert.ok(Date.now() - started < 5000, "answered near the limit, not at the deadline margin");
  });

  test("CPU: the spinning plugin is stopped with cpu_limit_exceeded and comes back", async () => {
    await assert.rejects(echo.invokeRoute("spin", {}, request()), (err) => {
      assert.match(err.message, /^Plugin echo:1\.0\.0 route spin failed: /);
      assert.equal(err.code, "cpu_limit_exceeded");
      return true;
    });
    const answer = await waitFor(
      "the plugin to answer after its CPU kill",
      () => echo.invokeRoute("hi", { name: "back" }, request()).catch(() => null),
      15000,
    );
    assert.equal(answer.hello, "back");
  });
});

describe("processes", { skip: SKIP }, () => {
  let site;
  before(async () => {
    site = await makeSite();
  });
  after(async () => {
    await stopAll();
    await site.close();
  });

  test("terminateAll leaves no process and no private directory behind", async () => {
    const runner = makeRunner({ db: site.db, dataDir: site.dataDir });
    const before = new Set(descendants(process.pid));
    const echo = await runner.load(ECHO.manifest, ECHO.code);
    await echo.invokeRoute("hi", {}, request());
    const host = runner.hostPid;
    const started = descendants(process.pid).filter((p) => !before.has(p));
    assert.ok(started.includes(host));
    assert.ok(started.length >= 2, `the host and a plugin process, got ${started}`);
    await runner.terminateAll();
    assert.equal(runner.isHealthy(), false);
    assert.equal(runner.hostPid, null);
    await waitFor("every process the runner started to be gone", () => started.every((p) => !alive(p)), 10000);
    assert.deepEqual(descendants(process.pid).filter((p) => started.includes(p)), []);
    // A runner is usable again after terminateAll (EmDash reconfiguring).
    const again = await runner.load(ECHO.manifest, ECHO.code);
    assert.equal((await again.invokeRoute("hi", { name: "new host" }, request())).hello, "new host");
    assert.notEqual(runner.hostPid, host);
    await runner.terminateAll();
  });

  test("kill -9 of the host mid-call: SandboxUnavailableError, then a restart with the plugin loaded again", async () => {
    const runner = makeRunner({ db: site.db, dataDir: site.dataDir });
    const echo = await runner.load(ECHO.manifest, ECHO.code);
    const host = runner.hostPid;
    const oldPlugins = descendants(host);
    const call = echo.invokeRoute("slow", {}, request());
    const outcome = call.then(
      () => "answered",
      (err) => err,
    );
    // Mid-call: the host is working on it (the slow route takes 1.5 s).
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(host, "SIGKILL");
    const err = await outcome;
    assert.ok(err instanceof SandboxUnavailableError, `got ${err}`);
    assert.match(err.message, /^Plugin sandbox unavailable for echo:1\.0\.0: /);
    await waitFor("the runner to be healthy again", () => runner.isHealthy(), 15000);
    assert.notEqual(runner.hostPid, host);
    assert.equal((await echo.invokeRoute("hi", { name: "after" }, request())).hello, "after");
    await waitFor("the old host's plugin processes to be gone", () => oldPlugins.every((p) => !alive(p)), 10000);
  });

  test("a call during the restart waits for it and succeeds", async () => {
    const runner = makeRunner({ db: site.db, dataDir: site.dataDir });
    const echo = await runner.load(ECHO.manifest, ECHO.code);
    const host = runner.hostPid;
    process.kill(host, "SIGKILL");
    await waitFor("the runner to notice", () => !runner.isHealthy(), 5000);
    assert.equal((await echo.invokeRoute("hi", { name: "during" }, request())).hello, "during");
    assert.notEqual(runner.hostPid, host);
  });

  const killed = [];
  for (const how of ["kill", "end", "exit", "throw"]) {
    test(`a Node process that ends without terminateAll (${how}) leaves no host behind`, async () => {
      const child = spawn(
        process.execPath,
        [path.join(packageDir, "test/support/child.js"), site.file, site.dataDir, BINARY, how === "kill" ? "hang" : how],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (c) => (out += c));
      child.stderr.on("data", (c) => (err += c));
      const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
      const info = await waitFor("the child to report its host", () => {
        const line = out.split("\n")[0];
        return out.includes("\n") ? JSON.parse(line) : null;
      }, 20000).catch((e) => {
        child.kill("SIGKILL");
        throw new Error(`${e.message}; child stderr:\n${err}`);
      });
      // (The other variants may be gone already: the child ends right after reporting.)
      assert.ok(info.plugins.length >= 1);
      if (how === "kill") {
        assert.ok(alive(info.host));
        killed.push(child.pid);
        child.kill("SIGKILL");
      }
      const timeout = setTimeout(() => child.kill("SIGKILL"), 10000);
      const { code, signal } = await exited;
      clearTimeout(timeout);
      if (how === "end" || how === "exit") assert.equal(code, 0, `the child ended by itself (stderr: ${err})`);
      if (how === "throw") assert.equal(code, 1);
      if (how === "kill") assert.equal(signal, "SIGKILL");
      await waitFor("the host and its plugin processes to be gone", () => [info.host, ...info.plugins].every((p) => !alive(p)), 10000);
      // Only a process killed outright leaves its private directory; the next process's runner
      // (here: the "end" child) removes it.
      const left = readdirSync(os.tmpdir()).filter((n) => n.startsWith(`ps-${child.pid}-`));
      if (how !== "kill") assert.deepEqual(left, []);
      for (const pid of how === "kill" ? [] : killed) {
        assert.deepEqual(readdirSync(os.tmpdir()).filter((n) => n.startsWith(`ps-${pid}-`)), []);
      }
    });
  }
});

describe("email and media reach the site's callbacks", { skip: SKIP }, () => {
  let site;
  let runner;
  let instance;
  const sent = [];
  const uploads = [];
  const deletes = [];
  const MAILER = plugin("mailer", {
    capabilities: ["email:send", "media:write"],
    routes: ["mail", "upload", "remove"],
    code: `
export default {
  routes: {
    mail: { handler: async (routeCtx, ctx) => { await ctx.email.send({ to: "ada@example.com", subject: "Hi", text: routeCtx.input.text }); return { sent: true }; } },
    upload: { handler: async (routeCtx, ctx) => {
      const bytes = new Uint8Array(routeCtx.input.size);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
      return await ctx.media.upload("pixel.png", "image/png", bytes);
    } },
    remove: { handler: async (routeCtx, ctx) => ({ deleted: await ctx.media.delete(routeCtx.input.id) }) },
  },
};`,
  });

  before(async () => {
    site = await makeSite();
    runner = makeRunner({
      db: site.db,
      dataDir: site.dataDir,
      emailSend: async (message, pluginId) => {
        sent.push({ message, pluginId, via: "options" });
      },
      mediaStorage: {
        upload: async ({ key, body, contentType }) => {
          uploads.push({ key, body: Buffer.from(body), contentType, isUint8Array: body instanceof Uint8Array });
          return { key };
        },
        delete: async (key) => {
          deletes.push(key);
        },
      },
    });
    instance = await runner.load(MAILER.manifest, MAILER.code);
  });
  after(async () => {
    await stopAll();
    await site.close();
  });

  test("ctx.email.send calls emailSend(message, pluginId)", async () => {
    assert.deepEqual(await instance.invokeRoute("mail", { text: "hello there" }, request()), { sent: true });
    assert.deepEqual(sent, [{ message: { to: "ada@example.com", subject: "Hi", text: "hello there" }, pluginId: "mailer", via: "options" }]);
  });

  test("setEmailSend replaces the callback; null turns email off", async () => {
    runner.setEmailSend(async (message, pluginId) => {
      sent.push({ message, pluginId, via: "setEmailSend" });
    });
    await instance.invokeRoute("mail", { text: "second" }, request());
    assert.equal(sent.at(-1).via, "setEmailSend");
    assert.equal(sent.at(-1).message.text, "second");

    runner.setEmailSend(null);
    const count = sent.length;
    await assert.rejects(instance.invokeRoute("mail", { text: "third" }, request()), /Plugin mailer:1\.0\.0 route mail failed: .*[Ee]mail/);
    assert.equal(sent.length, count);

    runner.setEmailSend(async (message, pluginId) => {
      sent.push({ message, pluginId, via: "back" });
    });
    await waitFor(
      "email to be offered again",
      () => instance.invokeRoute("mail", { text: "fourth" }, request()).then(() => true, () => false),
      5000,
    );
    assert.equal(sent.at(-1).via, "back");
  });

  test("ctx.media.upload and delete call the site's media storage with the exact bytes", async () => {
    const size = 200 * 1024 + 3;
    const media = await instance.invokeRoute("upload", { size }, request());
    assert.equal(uploads.length, 1);
    const up = uploads[0];
    assert.equal(up.contentType, "image/png");
    assert.equal(up.isUint8Array, true);
    assert.equal(up.body.length, size);
    for (let i = 0; i < size; i += 997) assert.equal(up.body[i], (i * 7) & 255);
    assert.ok(typeof media.mediaId === "string" && media.mediaId.length > 0, JSON.stringify(media));
    await instance.invokeRoute("remove", { id: media.mediaId }, request());
    assert.deepEqual(deletes, [up.key]);
  });
});

test("the package exports what EmDash imports", { skip: SKIP }, async () => {
  const mod = await import("@plugin-sandbox/emdash");
  assert.equal(typeof mod.createSandboxRunner, "function");
  assert.equal(mod.PluginSandboxRunner, PluginSandboxRunner);
  assert.ok(existsSync(path.join(packageDir, "index.d.ts")));
});
