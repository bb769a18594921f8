#include "runner/validation_cache.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/crypto.h"
#include "common/encoding.h"
#include "workerd/config.h"

namespace ps::runner {
namespace js {
extern const std::string_view kWrapper;
extern const std::string_view kEmdash;
}  // namespace js

namespace {
constexpr const char* kFormat = "plugin-sandbox validation 1";
}  // namespace

ValidationCache::ValidationCache(std::string dir, std::string workerd_path) : dir_(std::move(dir)) {
  if (dir_.empty()) return;
  struct stat st {};
  std::ostringstream id;
  id << kFormat << '\n' << workerd_path << '\n';
  if (::stat(workerd_path.c_str(), &st) == 0) {
    id << st.st_size << ' ' << st.st_mtim.tv_sec << '.' << st.st_mtim.tv_nsec << '\n';
  }
  id << workerd::kCompatibilityDate << '\n' << js::kWrapper << '\n' << js::kEmdash;
  runtime_ = Sha256(id.str());
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    spdlog::warn("validation cache {} cannot be created ({}); every load starts its plugin", dir_,
                 ec.message());
    dir_.clear();
    return;
  }
  ::chmod(dir_.c_str(), 0700);
  // What is read from here decides which routes are public: only a directory of this user's,
  // closed to everyone else, is trusted.
  struct stat ds {};
  if (::lstat(dir_.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode) || ds.st_uid != ::geteuid() ||
      (ds.st_mode & 077) != 0) {
    spdlog::warn(
        "validation cache {} is not a private directory of this user's; not used (every load "
        "starts its plugin)",
        dir_);
    dir_.clear();
  }
}

std::string ValidationCache::Key(const std::string& module_source, int64_t memory_mb) const {
  return HexEncode(Sha256(runtime_ + '\n' + std::to_string(memory_mb) + '\n' + module_source));
}

std::optional<json::object> ValidationCache::Get(const std::string& key) const {
  if (dir_.empty()) return std::nullopt;
  std::ifstream in(dir_ + "/" + key + ".json", std::ios::binary);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = ParseJson(text);
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  const auto& o = parsed->get_object();
  auto* format = o.if_contains("format");
  auto* described = o.if_contains("described");
  if (!format || !format->is_string() || format->get_string() != kFormat || !described ||
      !described->is_object()) {
    return std::nullopt;
  }
  return described->get_object();
}

void ValidationCache::Put(const std::string& key, const json::object& described) const {
  if (dir_.empty()) return;
  json::object o;
  o["format"] = kFormat;
  o["described"] = described;
  std::string path = dir_ + "/" + key + ".json";
  std::string tmp = path + "." + HexEncode(RandomBytes(6)) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << Stringify(o);
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  ::chmod(tmp.c_str(), 0600);
  if (::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace ps::runner
