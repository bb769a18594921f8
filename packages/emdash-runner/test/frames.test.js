// The frame parser alone, byte by byte: the only part tested without the real host.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChannelProtocolError, FrameParser, MAX_HEADER_BYTES, frameHeader } from "../src/channel.js";

function collect() {
  const frames = [];
  const parser = new FrameParser((kind, id, word, target, body) =>
    frames.push({ kind, id, word, target, body: Buffer.from(body).toString("latin1") }),
  );
  return { frames, parser };
}

const frame = (kind, id, word, target, body) => frameHeader(kind, id, word, target, Buffer.byteLength(body)) + body;
const stream = Buffer.from(
  frame("A", 1, 200, undefined, '{"ok":true}') +
    frame("C", 7, "email", undefined, "") +
    frame("A", 2, 500, undefined, '{"error":{"code":"plugin_error","message":"x"}}') +
    frame("Q", 3, "PUT", "/v1/plugins/a%20b?x=1", "{}") +
    frame("R", 9, 404, undefined, "{}"),
  "latin1",
);
const expected = [
  { kind: "A", id: 1, word: 200, target: undefined, body: '{"ok":true}' },
  { kind: "C", id: 7, word: "email", target: undefined, body: "" },
  { kind: "A", id: 2, word: 500, target: undefined, body: '{"error":{"code":"plugin_error","message":"x"}}' },
  { kind: "Q", id: 3, word: "PUT", target: "/v1/plugins/a%20b?x=1", body: "{}" },
  { kind: "R", id: 9, word: 404, target: undefined, body: "{}" },
];

test("frames in one chunk", () => {
  const { frames, parser } = collect();
  parser.push(stream);
  assert.deepEqual(frames, expected);
  assert.equal(parser.buffered, 0);
});

test("frames split at every possible byte boundary", () => {
  for (let cut = 1; cut < stream.length; cut++) {
    const { frames, parser } = collect();
    parser.push(stream.subarray(0, cut));
    parser.push(stream.subarray(cut));
    assert.deepEqual(frames, expected, `cut at ${cut}`);
  }
});

test("frames fed one byte at a time", () => {
  const { frames, parser } = collect();
  for (let i = 0; i < stream.length; i++) parser.push(stream.subarray(i, i + 1));
  assert.deepEqual(frames, expected);
});

test("a large body over many chunks is assembled once, byte-exact", () => {
  const body = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
  const data = Buffer.concat([Buffer.from(`C 5 media-upload ${body.length}\n`), body, Buffer.from("A 6 200 0\n")]);
  let got = null;
  const seen = [];
  const parser = new FrameParser((kind, id, word, target, b) => {
    seen.push(`${kind}${id}`);
    if (kind === "C") got = Buffer.from(b);
  });
  for (let off = 0; off < data.length; off += 65536) parser.push(data.subarray(off, off + 65536));
  assert.deepEqual(seen, ["C5", "A6"]);
  assert.ok(got.equals(body));
});

test("a body of UTF-8 text counts bytes, not characters", () => {
  const text = JSON.stringify({ message: "Grüße, 世界 🌍" });
  const { frames, parser } = collect();
  parser.push(Buffer.from(frameHeader("A", 4, 200, undefined, Buffer.byteLength(text)) + text + "A 5 204 0\n"));
  assert.equal(frames.length, 2);
  assert.equal(Buffer.from(frames[0].body, "latin1").toString("utf8"), text);
});

test("frameHeader writes what the parser reads", () => {
  assert.equal(frameHeader("Q", 12, "POST", "/v1/plugins/x/hooks/content:beforeSave", 5), "Q 12 POST /v1/plugins/x/hooks/content:beforeSave 5\n");
  assert.equal(frameHeader("R", 3, 200, undefined, 2), "R 3 200 2\n");
});

for (const [name, bad] of [
  ["unknown kind", "X 1 200 0\n"],
  ["no space after the kind", "A1 200 0\n"],
  ["missing field", "A 1 0\n"],
  ["extra field", "A 1 200 0 0\n"],
  ["negative length", "A 1 200 -1\n"],
  ["non-numeric id", "A x 200 0\n"],
  ["id zero", "A 0 200 0\n"],
  ["id with leading zero", "A 01 200 0\n"],
  ["id beyond 2^53-1", "A 9007199254740992 200 0\n"],
  ["status out of range", "A 1 20 0\n"],
  ["length with a sign", "A 1 200 +2\n{}"],
  ["Q without target", "Q 1 GET 0\n"],
  ["double space", "A 1  200 0\n"],
]) {
  test(`rejects a malformed header: ${name}`, () => {
    const { parser } = collect();
    assert.throws(() => parser.push(Buffer.from(bad)), ChannelProtocolError);
  });
}

test("rejects a header line over 8 KiB, even before its newline", () => {
  const { parser } = collect();
  assert.throws(() => parser.push(Buffer.alloc(MAX_HEADER_BYTES + 1, 0x41)), ChannelProtocolError);
  const { parser: p2 } = collect();
  p2.push(Buffer.from("A 1 200 0"));
  assert.throws(() => p2.push(Buffer.alloc(MAX_HEADER_BYTES, 0x30)), ChannelProtocolError);
});

test("a partial header is kept until its newline arrives", () => {
  const { frames, parser } = collect();
  parser.push(Buffer.from("A 12 2"));
  assert.equal(frames.length, 0);
  assert.equal(parser.buffered, 6);
  parser.push(Buffer.from("00 2\n{"));
  assert.equal(frames.length, 0);
  parser.push(Buffer.from("}"));
  assert.deepEqual(frames, [{ kind: "A", id: 12, word: 200, target: undefined, body: "{}" }]);
});
