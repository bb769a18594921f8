// plugin-sandbox: the "emdash" module as sandboxed plugins see it. Published plugins import
// definePlugin from "emdash"; in a sandbox it returns its argument, as EmDash's does.
export function definePlugin(definition) {
  return definition;
}

export default { definePlugin };
