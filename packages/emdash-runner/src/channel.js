// The client side of the host channel (docs/channel.md in plugin-sandbox): one persistent,
// multiplexed stream over the host's Unix socket, opened with an HTTP Upgrade, then frames.
//
//   runner -> host   Q <id> <METHOD> <target> <len>\n<body>   an API request
//   host -> runner   A <id> <status> <len>\n<body>            its answer
//   host -> runner   C <id> <op> <len>\n<body>                a call into this process
//   runner -> host   R <id> <status> <len>\n<body>            our answer to it

import http from "node:http";

const NEWLINE = 10;
const SPACE = 32;
/** A header line longer than this ends the channel (as on the host). */
export const MAX_HEADER_BYTES = 8 * 1024;
/** Larger than any body the host accepts or sends; a bigger length is a broken stream. */
export const MAX_BODY_BYTES = 1024 * 1024 * 1024;
const MAX_ID = Number.MAX_SAFE_INTEGER;
const EMPTY = Buffer.alloc(0);

/** The stream broke the frame format; the channel cannot continue. */
export class ChannelProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "ChannelProtocolError";
  }
}

/** The channel closed (or was never open) while a request was in flight. */
export class ChannelClosedError extends Error {
  constructor(reason) {
    super(`the plugin-sandbox channel closed: ${reason}`);
    this.name = "ChannelClosedError";
    this.reason = reason;
  }
}

/** No answer arrived before the request's deadline. */
export class ChannelTimeoutError extends Error {
  constructor(ms, what) {
    super(`no answer from plugin-sandbox within ${ms} ms to ${what}`);
    this.name = "ChannelTimeoutError";
    this.timeoutMs = ms;
  }
}

// A decimal integer field: digits only, no sign, no leading zeros (except "0" itself).
function parseNumber(text, min, max, what) {
  const n = text.length > 0 && text.length <= 16 && (text === "0" || text.charCodeAt(0) !== 48)
    ? Number(text)
    : NaN;
  if (!Number.isInteger(n) || n < min || n > max || !/^\d+$/.test(text)) {
    throw new ChannelProtocolError(`malformed ${what} ${JSON.stringify(text)} in a frame header`);
  }
  return n;
}

/**
 * Splits a byte stream into frames. `push(chunk)` calls `onFrame(kind, id, word, target, body)`
 * for every complete frame: `word` is the METHOD (Q), the status as a number (A, R) or the op
 * (C); `target` is only set for Q. `body` is a Buffer view of exactly the body's bytes; it
 * shares memory with the received chunk, which nobody else writes to. A malformed stream makes
 * `push` throw a ChannelProtocolError; the parser is then unusable.
 */
export class FrameParser {
  #onFrame;
  #pending = EMPTY; // bytes of an incomplete header (or a header whose body is incomplete)
  // A parsed header waiting for its body:
  #kind = "";
  #id = 0;
  #word = undefined;
  #target = undefined;
  #need = -1; // body length still expected; -1 when no header is waiting
  #parts = null; // body chunks collected so far (only for bodies split across chunks)
  #have = 0;

  constructor(onFrame) {
    this.#onFrame = onFrame;
  }

  /** Bytes held for an incomplete frame (for tests and diagnostics). */
  get buffered() {
    return this.#need >= 0 ? this.#have : this.#pending.length;
  }

  push(chunk) {
    let buf = chunk;
    let off = 0;
    if (this.#need >= 0) {
      // A body spread over several chunks: collect until it is complete, then copy once.
      const want = this.#need - this.#have;
      if (chunk.length < want) {
        this.#parts.push(chunk);
        this.#have += chunk.length;
        return;
      }
      this.#parts.push(want === chunk.length ? chunk : chunk.subarray(0, want));
      const body = Buffer.concat(this.#parts, this.#need);
      this.#parts = null;
      this.#have = 0;
      this.#need = -1;
      this.#emit(body);
      off = want;
    } else if (this.#pending.length > 0) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = EMPTY;
    }

    const end = buf.length;
    while (off < end) {
      const nl = buf.indexOf(NEWLINE, off);
      if (nl < 0) {
        if (end - off > MAX_HEADER_BYTES) {
          throw new ChannelProtocolError(`a frame header is longer than ${MAX_HEADER_BYTES} bytes`);
        }
        this.#pending = off === 0 ? buf : buf.subarray(off);
        return;
      }
      if (nl - off > MAX_HEADER_BYTES) {
        throw new ChannelProtocolError(`a frame header is longer than ${MAX_HEADER_BYTES} bytes`);
      }
      const len = this.#header(buf, off, nl);
      const start = nl + 1;
      if (end - start >= len) {
        off = start + len;
        this.#emit(buf.subarray(start, off));
        continue;
      }
      // The body continues in later chunks.
      this.#need = len;
      this.#have = end - start;
      this.#parts = this.#have > 0 ? [buf.subarray(start)] : [];
      return;
    }
  }

  // Parses the header line buf[off, nl) into the waiting-header fields; returns the body length.
  #header(buf, off, nl) {
    const kind = buf[off];
    if (buf[off + 1] !== SPACE) throw new ChannelProtocolError(`malformed frame header ${describe(buf, off, nl)}`);
    const fields = buf.toString("latin1", off + 2, nl).split(" ");
    switch (kind) {
      case 81: // Q <id> <METHOD> <target> <len>
        if (fields.length !== 4 || !fields[1] || !fields[2]) throw bad(buf, off, nl);
        this.#kind = "Q";
        this.#word = fields[1];
        this.#target = fields[2];
        break;
      case 65: // A <id> <status> <len>
      case 82: // R <id> <status> <len>
        if (fields.length !== 3) throw bad(buf, off, nl);
        this.#kind = kind === 65 ? "A" : "R";
        this.#word = parseNumber(fields[1], 100, 999, "status");
        this.#target = undefined;
        break;
      case 67: // C <id> <op> <len>
        if (fields.length !== 3 || !fields[1]) throw bad(buf, off, nl);
        this.#kind = "C";
        this.#word = fields[1];
        this.#target = undefined;
        break;
      default:
        throw new ChannelProtocolError(`unknown frame kind in header ${describe(buf, off, nl)}`);
    }
    this.#id = parseNumber(fields[0], 1, MAX_ID, "id");
    return parseNumber(fields[fields.length - 1], 0, MAX_BODY_BYTES, "length");
  }

  #emit(body) {
    const word = this.#word;
    const target = this.#target;
    this.#word = undefined;
    this.#target = undefined;
    this.#onFrame(this.#kind, this.#id, word, target, body);
  }
}

function describe(buf, off, nl) {
  return JSON.stringify(buf.toString("latin1", off, Math.min(nl, off + 80)));
}

function bad(buf, off, nl) {
  return new ChannelProtocolError(`malformed frame header ${describe(buf, off, nl)}`);
}

/** Encodes one frame's header line. */
export function frameHeader(kind, id, word, target, len) {
  return target === undefined ? `${kind} ${id} ${word} ${len}\n` : `${kind} ${id} ${word} ${target} ${len}\n`;
}

/**
 * One open channel. `request()` sends a Q frame and resolves with `{status, body}` (body a
 * Buffer) when its A frame arrives; `onCall(op, body)` answers C frames (resolve with a JSON
 * value for 200, reject for an error answer). The socket is referenced only while requests are
 * in flight, so an idle channel never keeps Node running.
 */
export class Channel {
  #socket;
  #parser;
  #onCall;
  #onClose;
  #pending = new Map(); // id -> {resolve, reject, deadline, timeoutMs, what}
  #nextId = 1;
  #closed = false;
  #out = []; // frames queued in this turn of the event loop (#queue)
  #closeReason = "not open";
  #timer = null;
  #timerAt = Infinity;

  constructor(socket, head, { onCall, onClose } = {}) {
    this.#socket = socket;
    this.#onCall = onCall;
    this.#onClose = onClose;
    this.#parser = new FrameParser((kind, id, word, target, body) => this.#frame(kind, id, word, body));
    socket.setNoDelay?.(true);
    socket.unref();
    socket.on("data", (chunk) => {
      try {
        this.#parser.push(chunk);
      } catch (err) {
        this.close(err instanceof ChannelProtocolError ? err.message : `bad frame: ${err.message}`);
      }
    });
    socket.on("error", (err) => this.close(err.message));
    socket.on("close", () => this.close("the host closed the connection"));
    socket.on("end", () => this.close("the host ended the connection"));
    if (head && head.length > 0) {
      try {
        this.#parser.push(head);
      } catch (err) {
        queueMicrotask(() => this.close(err.message));
      }
    }
  }

  get closed() {
    return this.#closed;
  }

  /** Requests in flight. */
  get inFlight() {
    return this.#pending.size;
  }

  /**
   * Sends `<METHOD> <target>` with `body` (a string or Buffer; "" for none). Rejects with a
   * ChannelTimeoutError after `timeoutMs`, or a ChannelClosedError when the channel closes.
   */
  request(method, target, body, timeoutMs) {
    if (this.#closed) return Promise.reject(new ChannelClosedError(this.#closeReason));
    const id = this.#nextId++;
    if (this.#nextId > MAX_ID) this.#nextId = 1;
    const isString = typeof body === "string";
    const len = isString ? Buffer.byteLength(body) : body.length;
    const header = `Q ${id} ${method} ${target} ${len}\n`;
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      this.#pending.set(id, { resolve, reject, deadline, timeoutMs, method, target });
      if (this.#pending.size === 1) this.#socket.ref();
      if (deadline < this.#timerAt) this.#arm(deadline);
      this.#queue(header);
      if (len > 0) this.#queue(body);
    });
  }

  // Frames written in one turn of the event loop go out in one write: callers woken together
  // (one `data` event can answer many) send together, and the host reads them in one go.
  #queue(chunk) {
    this.#out.push(chunk);
    if (this.#out.length === 1) queueMicrotask(this.#flush);
  }

  #flush = () => {
    const out = this.#out;
    this.#out = [];
    if (this.#closed || out.length === 0) return;
    if (out.every((c) => typeof c === "string")) {
      this.#socket.write(out.length === 1 ? out[0] : out.join(""));
      return;
    }
    this.#socket.cork();
    for (const chunk of out) this.#socket.write(chunk);
    this.#socket.uncork();
  };

  /** Closes the channel; every request in flight rejects with a ChannelClosedError. */
  close(reason = "closed by the runner") {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#socket.destroy();
    const pending = this.#pending;
    this.#pending = new Map();
    for (const p of pending.values()) p.reject(new ChannelClosedError(reason));
    this.#onClose?.(reason);
  }

  #frame(kind, id, word, body) {
    if (kind === "A") {
      const p = this.#pending.get(id);
      if (!p) return; // answered after its deadline: dropped
      this.#pending.delete(id);
      if (this.#pending.size === 0) this.#socket.unref();
      p.resolve({ status: word, body });
      return;
    }
    if (kind === "C") {
      this.#call(id, word, body);
      return;
    }
    this.close(`the host sent a ${kind} frame, which only the runner sends`);
  }

  #call(id, op, body) {
    let answer;
    try {
      answer = this.#onCall ? this.#onCall(op, body) : Promise.reject(new Error(`unknown op ${op}`));
    } catch (err) {
      answer = Promise.reject(err);
    }
    Promise.resolve(answer).then(
      (value) => this.#answer(id, 200, JSON.stringify(value ?? {})),
      (err) => {
        const status = Number.isInteger(err?.status) && err.status >= 400 && err.status <= 599 ? err.status : 500;
        const message = err instanceof Error ? err.message : String(err);
        this.#answer(id, status, JSON.stringify({ error: { message } }));
      },
    );
  }

  #answer(id, status, text) {
    if (this.#closed) return;
    this.#queue(`R ${id} ${status} ${Buffer.byteLength(text)}\n${text}`);
  }

  // One timer for all deadlines: armed for the earliest, sweeps, re-arms for the next.
  #arm(at) {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, at - Date.now()) + 1);
    this.#timer.unref();
  }

  #sweep() {
    this.#timer = null;
    this.#timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [id, p] of this.#pending) {
      if (p.deadline <= now) {
        this.#pending.delete(id);
        p.reject(new ChannelTimeoutError(p.timeoutMs, `${p.method} ${p.target}`));
      } else if (p.deadline < next) {
        next = p.deadline;
      }
    }
    if (this.#pending.size === 0) this.#socket.unref();
    if (next !== Infinity) this.#arm(next);
  }
}

/**
 * Opens a channel to the host at `socketPath`: `GET /v1/channel` with the Upgrade headers and
 * the admin token, answered 101. Rejects with the connect error (code ENOENT, ECONNREFUSED, …)
 * when nothing listens yet, or an Error with `status` when the host refuses the upgrade.
 */
export function openChannel(socketPath, token, { timeoutMs = 5000, onCall, onClose } = {}) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, channel) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(channel);
    };
    const req = http.request({
      socketPath,
      method: "GET",
      path: "/v1/channel",
      agent: false,
      headers: {
        Host: "host",
        Authorization: `Bearer ${token}`,
        Connection: "Upgrade",
        Upgrade: "plugin-sandbox-channel/1",
      },
    });
    const timer = setTimeout(() => {
      const err = new Error(`the channel upgrade got no answer within ${timeoutMs} ms`);
      err.code = "ETIMEDOUT";
      req.destroy(err);
      finish(err);
    }, timeoutMs);
    req.on("upgrade", (res, socket, head) => {
      if (res.statusCode !== 101) {
        socket.destroy();
        const err = new Error(`the host answered the channel upgrade with ${res.statusCode}`);
        err.status = res.statusCode;
        finish(err);
        return;
      }
      if (done) {
        socket.destroy();
        return;
      }
      finish(null, new Channel(socket, head, { onCall, onClose }));
    });
    req.on("response", (res) => {
      const parts = [];
      res.on("data", (c) => parts.push(c));
      res.on("end", () => {
        let message = Buffer.concat(parts).toString("utf8");
        try {
          message = JSON.parse(message)?.error?.message ?? message;
        } catch {
          // not JSON: keep the text
        }
        const err = new Error(`the host refused the channel (${res.statusCode}): ${message}`.trim());
        err.status = res.statusCode;
        finish(err);
      });
      res.on("error", (e) => finish(e));
    });
    req.on("error", (err) => finish(err));
    req.end();
  });
}
