// Loading a plugin bundle (host-api.md "Plugin bundles"): a directory with manifest.json and
// backend.js, a published npm package directory (module from package.json exports["./sandbox"],
// manifest from dist/manifest.json, manifest.json or an explicit file), or a .tar.gz of either
// (files at the root or under one top folder, as `npm pack` makes them).
//
// Contract: Load either returns a complete Bundle (validated manifest + module source) or fails
// with InvalidArgument listing every problem, one line each, naming the file, the field and what
// was expected. Nothing is written anywhere: archives are read in memory.
// May call: common/, manifest/. Called by: cli/, later runner/ and server/.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "manifest/manifest.h"

namespace ps::manifest {

struct Bundle {
  Manifest manifest;
  std::string module_source;  // the plugin's ES module (backend.js or the package's sandbox entry)
  std::string module_path;    // where it came from, for messages
  std::string manifest_path;
};

struct LoadOptions {
  std::optional<std::string> manifest_file;  // --manifest FILE
  size_t max_archive_bytes = 64u << 20;      // a .tar.gz bigger than this (unpacked) is refused
};

Result<Bundle> LoadBundle(const std::string& path, const LoadOptions& options = {});
// The same from an in-memory .tar.gz (the host API's upload body).
Result<Bundle> LoadBundleFromArchive(std::string_view gzip_bytes, std::string_view label,
                                     const LoadOptions& options = {});

// The same from a manifest already parsed as JSON and the module's text (what an embedding CMS
// hands over: EmDash's SandboxRunner.load(manifest, code)). `label` names the source in messages.
Result<Bundle> BundleFromMemory(const json::value& manifest, std::string module,
                                std::string_view label);

// Whether two bundles have the same module and the same manifest (an update changes nothing).
bool SameBundle(const Bundle& a, const Bundle& b);

}  // namespace ps::manifest
