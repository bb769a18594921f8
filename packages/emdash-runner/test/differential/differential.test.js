// Differential test: every scenario of scenarios.js on EmDash's own runner
// (@emdash-cms/sandbox-workerd 0.3.2) and on ours (@plugin-sandbox/emdash),
// each on a fresh copy of one EmDash-made site database; the normalised
// results must be equal, except for the scenarios `expectedDifferences`
// lists, whose documented difference is asserted instead.
//
//   node --test test/differential/                    (from packages/emdash-runner)
//   DIFF_FILTER='kv|limit' node --test test/differential/differential.test.js
//   DIFF_RUNNERS=theirs  ...                          (one side only)
//
// Our side is skipped, with the reason, while src/index.js or the
// plugin-sandbox binary (build/src/plugin-sandbox, or $PLUGIN_SANDBOX_BIN)
// does not exist; EmDash's side still runs.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { inspect } from "node:util";

import { RUNNERS, makeEnv, removeTemplateSite, runnerStatus, templateSite, withDeadline } from "./harness.js";
import { diffPaths, differenceList, expectedDifferences, normalize, scenarios } from "./scenarios.js";

const filter = process.env.DIFF_FILTER ? new RegExp(process.env.DIFF_FILTER, "i") : null;
const wanted = new Set((process.env.DIFF_RUNNERS ?? RUNNERS.join(",")).split(",").map((s) => s.trim()));
const status = Object.fromEntries(
  RUNNERS.map((kind) => [
    kind,
    wanted.has(kind) ? runnerStatus(kind) : { available: false, reason: `not selected (DIFF_RUNNERS=${process.env.DIFF_RUNNERS})` },
  ]),
);

// Expected differences must name real scenarios.
for (const name of Object.keys(expectedDifferences)) {
  assert.ok(scenarios.some((s) => s.name === name), `expectedDifferences names an unknown scenario: ${name}`);
}

after(async () => {
  await removeTemplateSite();
});

test("runners", (t) => {
  for (const kind of RUNNERS) {
    t.diagnostic(`${kind}: ${status[kind].available ? "available" : `skipped: ${status[kind].reason}`}`);
  }
  for (const line of differenceList()) t.diagnostic(`intended difference: ${line}`);
});

test("template site (EmDash's migrations and repositories)", { timeout: 120_000 }, async () => {
  const t = await templateSite();
  assert.ok(t.ids.content.published);
});

const show = (v) => inspect(v, { depth: 12, breakLength: 120 });

for (const scenario of scenarios) {
  if (filter && !filter.test(scenario.name) && !filter.test(scenario.group)) continue;
  const difference = expectedDifferences[scenario.name];
  const deadlineMs = scenario.deadlineMs ?? 60_000;

  describe(`${scenario.group}: ${scenario.name}`, () => {
    const raw = {};

    for (const kind of RUNNERS) {
      const skip = status[kind].available ? false : status[kind].reason;
      test(kind, { skip, timeout: deadlineMs + 30_000 }, async (t) => {
        const env = await makeEnv(kind, scenario.env);
        try {
          raw[kind] = await withDeadline(scenario.run(env), deadlineMs, `${kind}: ${scenario.name}`);
        } finally {
          await env.close();
        }
        if (scenario.expect && (kind === "theirs" || !difference)) {
          try {
            scenario.expect(raw[kind], kind);
          } catch (e) {
            t.diagnostic(`${kind} result: ${show(raw[kind])}`);
            throw e;
          }
        }
      });
    }

    const compareSkip =
      !("theirs" in status) || !status.theirs.available
        ? `EmDash's runner did not run: ${status.theirs.reason}`
        : !status.ours.available && !difference
          ? `our runner did not run: ${status.ours.reason}`
          : false;
    test(difference ? "intended difference" : "equal", { skip: compareSkip }, async (t) => {
      assert.ok("theirs" in raw, "EmDash's side produced no result");
      const template = await templateSite();
      const theirs = normalize(raw.theirs, template);
      const ours = "ours" in raw ? normalize(raw.ours, template) : null;
      if (status.ours.available) assert.ok(ours !== null, "our side produced no result");
      try {
        if (difference) {
          t.diagnostic(`intended: ${difference.reason}`);
          difference.check(theirs, ours);
        } else {
          assert.deepStrictEqual(ours, theirs);
        }
      } catch (e) {
        if (ours) for (const line of diffPaths(theirs, ours)) t.diagnostic(`theirs != ours at ${line}`);
        t.diagnostic(`theirs (normalised): ${JSON.stringify(theirs)}`);
        if (ours) t.diagnostic(`ours (normalised): ${JSON.stringify(ours)}`);
        throw e;
      }
    });
  });
}
