// Errors as EmDash's own runners throw them, with plugin-sandbox's code and clearer message.

/**
 * The sandbox runtime is down (the host is not running, restarting or shut down).
 *
 * EmDash exports a class of this name from its main entry, but importing `emdash` from here is
 * neither cheap nor free of side effects (it loads ~60 modules, needs `astro/zod`, and in a
 * bundled site would be a second copy of EmDash), and EmDash never tests `instanceof` on it. So
 * this is our own class with the same name, constructor and message.
 */
export class SandboxUnavailableError extends Error {
  constructor(pluginId, reason) {
    super(`Plugin sandbox unavailable for ${pluginId}: ${reason}`);
    this.name = "SandboxUnavailableError";
    this.pluginId = pluginId;
    this.reason = reason;
  }
}

/** `{"error":{"code","message"}}` from an answer body, or something equally useful. */
export function parseErrorBody(status, body) {
  const text = body && body.length > 0 ? body.toString("utf8") : "";
  try {
    const doc = JSON.parse(text);
    const error = doc && typeof doc === "object" ? doc.error : undefined;
    if (error && typeof error === "object") {
      return {
        code: typeof error.code === "string" ? error.code : `http_${status}`,
        message: typeof error.message === "string" ? error.message : text,
      };
    }
    if (typeof error === "string") return { code: `http_${status}`, message: error };
  } catch {
    // not JSON
  }
  return { code: `http_${status}`, message: text || `status ${status}` };
}

/**
 * The Error for a failed invocation, shaped like the one EmDash's own Node runner throws:
 * `Plugin <id:version> hook|route <name> failed: <message>`, or for the wall-time limit
 * `Plugin <id> exceeded wall-time limit of <n>ms during route:<name>`. 503 answers (the plugin
 * or the host is restarting, quarantined or stopping) are SandboxUnavailableErrors.
 * `code` is plugin-sandbox's error code (host-api.md), `status` the HTTP status.
 */
export function invocationError(instance, kind, name, status, code, message, wallTimeMs) {
  let err;
  if (status === 503) {
    err = new SandboxUnavailableError(instance.id, message);
  } else if (code === "wall_time_exceeded") {
    err = new Error(`Plugin ${instance.pluginId} exceeded wall-time limit of ${wallTimeMs}ms during ${kind}:${name}`);
    if (message && !err.message.includes(message)) err.detail = message;
  } else {
    err = new Error(`Plugin ${instance.id} ${kind} ${name} failed: ${message}`);
  }
  err.code = code;
  if (status) err.status = status;
  return err;
}
