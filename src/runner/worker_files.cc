#include "runner/worker_files.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace ps::runner {
namespace js {
extern const std::string_view kWrapper;
extern const std::string_view kEmdash;
extern const std::string_view kRefuse;
}  // namespace js

namespace {

void Substitute(std::string& s, const std::string& key, const std::string& value) {
  size_t p = s.find(key);
  if (p != std::string::npos) s.replace(p, key.size(), value);
}

Status Write(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), std::streamsize(content.size()));
  out.close();
  if (!out) return Internal("cannot write " + path.string());
  return Status::Ok();
}

}  // namespace

std::string RenderWrapper(const WrapperParams& p) {
  std::string s(js::kWrapper);
  json::object plugin;
  plugin["id"] = p.plugin_id;
  plugin["version"] = p.version;
  json::object site;
  std::string url = p.site.url;
  if (!url.empty() && url.back() == '/') url.pop_back();
  site["name"] = p.site.name;
  site["url"] = url;
  site["locale"] = p.site.locale;
  site["trailingSlash"] = p.site.trailing_slash;
  json::array caps;
  for (const auto& c : p.capabilities) caps.emplace_back(c);
  Substitute(s, "__PS_PLUGIN__", Stringify(plugin));
  Substitute(s, "__PS_SITE__", Stringify(site));
  Substitute(s, "__PS_CAPABILITIES__", Stringify(caps));
  Substitute(s, "__PS_BRIDGE_TOKEN__", Quote(p.bridge_token));
  Substitute(s, "__PS_INVOKE_TOKEN__", Quote(p.invoke_token));
  return s;
}

Result<std::vector<workerd::Module>> WriteWorkerFiles(const std::string& dir,
                                                      const std::string& prefix,
                                                      const WrapperParams& params,
                                                      const std::string& plugin_source) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  std::filesystem::path d(dir);
  PS_TRY(Write(d / (prefix + "wrapper.js"), RenderWrapper(params)));
  PS_TRY(Write(d / (prefix + "sandbox-plugin.js"), plugin_source));
  PS_TRY(Write(d / (prefix + "emdash.js"), js::kEmdash));
  // Module names are what imports resolve against: the wrapper imports "./sandbox-plugin.js",
  // the plugin imports "emdash".
  return std::vector<workerd::Module>{
      {"wrapper.js", prefix + "wrapper.js"},
      {"sandbox-plugin.js", prefix + "sandbox-plugin.js"},
      {"emdash", prefix + "emdash.js"},
  };
}

Status WriteRefuseWorker(const std::string& dir) {
  return Write(std::filesystem::path(dir) / "refuse.js", js::kRefuse);
}

Status WriteProcessConfig(const std::string& dir, const workerd::ProcessConfig& config) {
  return Write(std::filesystem::path(dir) / kConfigFile, workerd::RenderCapnp(config));
}

}  // namespace ps::runner
