#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bridge/media_storage.h"

namespace ps::bridge {
namespace {

namespace fs = std::filesystem;

class LocalMediaStorage : public MediaStorage {
 public:
  explicit LocalMediaStorage(fs::path dir) : dir_(std::move(dir)) {}

  Status Upload(const std::string& key, std::string_view bytes, const std::string&) override {
    PS_TRY(CheckKey(key));
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return Internal("cannot create media directory " + dir_.string() + ": " + ec.message());
    // Write to a temporary name and rename, so a reader never sees a half-written file.
    fs::path tmp = dir_ / ("." + key + ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), std::streamsize(bytes.size()));
      if (!out) return Internal("cannot write media file " + tmp.string());
    }
    fs::rename(tmp, dir_ / key, ec);
    if (ec) return Internal("cannot store media file " + key + ": " + ec.message());
    return Status::Ok();
  }

  Status Delete(const std::string& key) override {
    PS_TRY(CheckKey(key));
    std::error_code ec;
    fs::remove(dir_ / key, ec);
    if (ec) return Internal("cannot delete media file " + key + ": " + ec.message());
    return Status::Ok();
  }

  Result<std::string> Read(const std::string& key) override {
    PS_TRY(CheckKey(key));
    std::ifstream in(dir_ / key, std::ios::binary);
    if (!in) return NotFound("media file not found: " + key);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  static Status CheckKey(const std::string& key) {
    if (key.empty() || key[0] == '.' || key.find('/') != std::string::npos ||
        key.find('\\') != std::string::npos || key.find('\0') != std::string::npos) {
      return InvalidArgument("invalid media storage key: " + key);
    }
    return Status::Ok();
  }

  fs::path dir_;
};

}  // namespace

std::shared_ptr<MediaStorage> MakeLocalMediaStorage(const std::string& dir) {
  return std::make_shared<LocalMediaStorage>(dir);
}

}  // namespace ps::bridge
