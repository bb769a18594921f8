// What the package assumes about the host, checked against what the host declares
// (`plugin-sandbox describe` prints the host's tables: limits, error codes, routes).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";

import { DEFAULT_LIMITS, LIMIT_NAMES } from "../src/index.js";
import { BINARY, SKIP } from "./support/site.js";

const described = SKIP ? null : JSON.parse(execFileSync(BINARY, ["describe"], { encoding: "utf8", timeout: 30_000 }));

test("every EmDash limit maps to a host limit of the same default, and no host limit is missing", { skip: SKIP }, () => {
  const host = Object.fromEntries(described.limits.map((l) => [l.emdashOption, l]));
  assert.deepEqual(Object.keys(LIMIT_NAMES).sort(), Object.keys(host).sort());
  assert.deepEqual(Object.keys(DEFAULT_LIMITS).sort(), Object.keys(host).sort());
  for (const [option, name] of Object.entries(LIMIT_NAMES)) {
    assert.equal(host[option].name, name, option);
    assert.equal(host[option].default, DEFAULT_LIMITS[option], option);
  }
});

test("the codes the package reacts to are codes the host declares", { skip: SKIP }, () => {
  const codes = new Set(described.errors.map((e) => e.code));
  for (const code of ["wall_time_exceeded"]) {
    assert.ok(codes.has(code), code);
  }
});

test("the routes the package calls are routes the host declares", { skip: SKIP }, () => {
  const routes = new Set(described.routes.map((r) => `${r.method} ${r.path}`));
  for (const route of [
    "GET /v1/channel",
    "PUT /v1/plugins/{id}",
    "DELETE /v1/plugins/{id}",
    "POST /v1/plugins/{id}/hooks/{hook}",
    "POST /v1/plugins/{id}/routes/{route...}",
    "GET /healthz",
  ]) {
    assert.ok(routes.has(route), route);
  }
});
