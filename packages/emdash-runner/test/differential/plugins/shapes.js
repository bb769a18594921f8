// Test plugin "shapes": what routes and hooks return or throw, and the handler
// forms the sandbox accepts (bare function, {handler}, a non-function).
// No imports.

class CodedError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

export default {
  hooks: {
    "content:afterSave": async () => {
      throw new Error("afterSave exploded");
    },
    "content:afterPublish": {
      handler: async () => {
        throw "a string, not an Error";
      },
    },
    cron: async (event) => event,
    "plugin:activate": { handler: 42 },
  },
  routes: {
    throwError: async () => {
      throw new Error("route exploded: something specific");
    },
    throwString: async () => {
      throw "a bare string";
    },
    throwCoded: async () => {
      throw new CodedError("coded failure", "E_CUSTOM");
    },
    throwEmpty: async () => {
      throw new Error("");
    },
    reject: () => Promise.reject(new TypeError("rejected with a TypeError")),
    syncThrow: () => {
      throw new RangeError("thrown synchronously");
    },
    returnsNull: async () => null,
    returnsUndefined: async () => undefined,
    returnsString: async () => "plain string",
    returnsNumber: async () => 42.5,
    returnsBoolean: async () => false,
    returnsArray: async () => [1, "two", { three: 3 }, null],
    returnsNested: async () => ({ a: { b: { c: [1, 2, { d: "deep" }] } }, unicode: "é✓😀", empty: {} }),
    returnsDate: async () => ({ when: new Date(0) }),
    returnsLarge: async (routeCtx) => ({ s: "x".repeat(routeCtx.input?.n ?? 100000) }),
    echoInput: async (routeCtx) => ({ input: routeCtx.input === undefined ? { $undefined: true } : routeCtx.input }),
    plainFunction: async () => "bare function handler",
    objectForm: { handler: async () => "object form handler", public: true },
    notAFunction: { handler: "nope" },
  },
};
