// Compile-only check (npm run typecheck): the package's types satisfy EmDash's published
// contract. tsconfig.json compiles it against emdash 0.32.0, tsconfig.0.31.json against 0.31.1
// (there "emdash" is mapped to the emdash-0.31 alias, as in a site on that version).
import type * as E32 from "emdash";
import {
  createSandboxRunner,
  PluginSandboxRunner,
  SandboxUnavailableError,
  type PluginSandboxRunnerOptions,
} from "@plugin-sandbox/emdash";

const factory32: E32.SandboxRunnerFactory = createSandboxRunner;

declare const options: E32.SandboxOptions;
const runner: E32.SandboxRunner = new PluginSandboxRunner(options);
const made: E32.SandboxRunner = createSandboxRunner(options);
const ours: PluginSandboxRunnerOptions = { ...options, binary: "/usr/local/bin/plugin-sandbox", logLevel: "warn" };

async function use(manifest: E32.PluginManifest, request: E32.SerializedRequest) {
  const instance: E32.SandboxedPluginInstance = await runner.load(manifest, "export default {}");
  const id: string = instance.id;
  const value: unknown = await instance.invokeHook("content:beforeSave", { content: {} });
  const data: unknown = await instance.invokeRoute("hello", { name: "Ada" }, request);
  await instance.terminate();
  runner.setEmailSend(null);
  runner.setEmailSend(async (message, pluginId) => void [message.to, pluginId]);
  await runner.terminateAll();
  const err: Error = new SandboxUnavailableError("hello:1.0.0", "down");
  return [id, value, data, err, factory32, made, ours];
}
void use;
