// Test plugin "hooks": defines every hook name EmDash knows (25). Each handler
// records the event it got in KV (key "hook:<name>") and returns a value that
// shows it ran (see RESULTS). Behaviour by plugin id (one file, several ids):
//   id ending "-throws": content:beforeSave and content:beforeDelete throw;
//   id ending "-keeps":  content:beforeSave returns a non-object (keep content);
//   id ending "-vetoes": content:beforeDelete returns false.
// Route `recorded` lists what was recorded. No imports.

const NAMES = [
  "plugin:install", "plugin:activate", "plugin:deactivate", "plugin:uninstall",
  "content:beforeSave", "content:afterSave", "content:beforeDelete", "content:afterDelete",
  "content:afterPublish", "content:afterUnpublish", "content:afterRestore",
  "content:afterSchedule", "content:afterUnschedule",
  "media:beforeUpload", "media:afterUpload", "cron",
  "email:beforeSend", "email:deliver", "email:afterSend",
  "comment:beforeCreate", "comment:moderate", "comment:afterCreate", "comment:afterModerate",
  "page:metadata", "page:fragments",
];

function result(name, event, ctx) {
  const id = ctx.plugin.id;
  switch (name) {
    case "content:beforeSave":
      if (id.endsWith("-throws")) throw new Error(`${id} refuses to save`);
      if (id.endsWith("-keeps")) return "not an object";
      return { ...event.content, title: `${event.content?.title ?? ""} +${id}` };
    case "content:beforeDelete":
      if (id.endsWith("-throws")) throw new Error(`${id} refuses to judge`);
      return !id.endsWith("-vetoes");
    case "media:beforeUpload":
      return { ...event.file, name: `${id}-${event.file?.name}` };
    case "email:beforeSend":
      return { ...event.message, subject: `[${id}] ${event.message?.subject}` };
    case "email:deliver":
      return undefined;
    case "comment:beforeCreate":
      return { ...event.comment, body: `${event.comment?.body} (checked)` };
    case "comment:moderate":
      return { status: "approved", reason: `${id} approves` };
    case "page:metadata":
      return [{ kind: "meta", name: "generator", content: id }];
    case "page:fragments":
      return [{ kind: "html", placement: "head", html: `<!-- ${id} -->` }];
    case "plugin:install":
    case "plugin:activate":
    case "plugin:deactivate":
    case "plugin:uninstall":
      return undefined;
    default:
      return { handled: name, by: id };
  }
}

const hooks = {};
for (const name of NAMES) {
  hooks[name] = {
    handler: async (event, ctx) => {
      await ctx.kv.set(`hook:${name}`, event === undefined ? null : event);
      return result(name, event, ctx);
    },
  };
}

export default {
  hooks,
  routes: {
    // Sorted by key here: EmDash's kv.list has no ORDER BY.
    recorded: async (_routeCtx, ctx) =>
      (await ctx.kv.list("hook:")).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
  },
};
