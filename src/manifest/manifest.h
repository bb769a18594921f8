// A plugin's manifest (runner.md §1): parsed, validated and normalized.
//
// Contract: ParseManifest either returns a Manifest whose every field satisfies the rules of
// runner.md §1, or fails with InvalidArgument whose message holds one line per problem, each
// naming the file, the field (JSON path) and what was expected, e.g.
//   manifest.json: capabilities[2]: unknown capability "read:everything" (expected one of …)
// Unknown fields are kept in `raw`, never errors. Capabilities are normalized to current names
// (capabilities/); `declaredAccess`, when present, re-derives capabilities and allowedHosts.
// May call: common/, capabilities/. Called by: bundle loading, bridge/, cli/, later runner/server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace ps::manifest {

// One storage collection's indexes. A composite index is a list of fields.
struct StorageCollection {
  std::string name;
  std::vector<std::vector<std::string>> indexes;
  std::vector<std::vector<std::string>> unique_indexes;

  // Union of every field named in indexes and uniqueIndexes (composites flattened).
  std::vector<std::string> IndexedFields() const;
};

struct HookDecl {
  std::string name;
  bool exclusive = false;
  std::optional<int64_t> priority;
  std::optional<int64_t> timeout_ms;
  std::vector<std::string> dependencies;    // plugin ids that must run first (EmDash's schema)
  std::optional<std::string> error_policy;  // "continue" or "abort"
};

struct RouteDecl {
  std::string name;
  bool is_public = false;
  std::optional<std::string> permission;
  std::optional<std::string> cache_control;
};

struct Manifest {
  std::string id;
  std::string version;
  // As declared (legacy names kept), and normalized to current names (what is enforced).
  std::vector<std::string> declared_capabilities;
  std::vector<std::string> capabilities;
  std::vector<std::string> allowed_hosts;
  std::vector<StorageCollection> storage;  // in declaration order
  bool has_hooks = false;                  // the manifest carried a `hooks` list
  std::vector<HookDecl> hooks;
  std::vector<RouteDecl> routes;
  json::object raw;  // the whole manifest as read, unknown fields included
  // Things that are valid but probably not what the author meant (legacy capability names,
  // hooks the capability gate will skip, ignored fields), formatted like problems:
  // "<source>: <json path>: <text>". `check` prints them; loaders may log them.
  std::vector<std::string> warnings;

  const StorageCollection* FindCollection(std::string_view name) const;
  std::vector<std::string> StorageCollectionNames() const;
  // The normalized manifest as JSON (what `plugin-sandbox check` prints).
  json::object ToJson() const;
};

// `source` names the file in error lines (e.g. "manifest.json" or "dist/manifest.json").
Result<Manifest> ParseManifest(const json::value& doc, std::string_view source);
Result<Manifest> ParseManifestText(std::string_view text, std::string_view source);

// Parses a JSON file's text; failures read "<source>: invalid JSON at line L, column C: <why>".
// With `jsonc`, comments and trailing commas are allowed (emdash-plugin.jsonc).
Result<json::value> ParseJsonFile(std::string_view text, std::string_view source,
                                  bool jsonc = false);

// The 25 hook names of runner.md §3.
const std::vector<std::string_view>& HookNames();
bool IsHookName(std::string_view name);

// The capability gate of runner.md §3: the current capability a hook needs to be registered
// (e.g. content:write for content:beforeSave), or empty when it needs none.
std::string_view HookRequiredCapability(std::string_view hook);

}  // namespace ps::manifest
