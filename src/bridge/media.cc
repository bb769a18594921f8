// media/* (bridge.md §3.5, §7). Capabilities: media:read for get/list, media:write for
// upload/delete. Bytes go to the MediaStorage adapter; rows to `media`.
#include <spdlog/spdlog.h>

#include <cmath>

#include "bridge/methods.h"
#include "bridge/params.h"
#include "common/char_class.h"
#include "common/encoding.h"
#include "common/ids.h"

namespace ps::bridge {
namespace {

json::object MapMedia(const store::Rows& rows, size_t r) {
  const auto& row = rows.rows[r];
  auto at = [&](const char* c) -> const store::Value& { return row[rows.Column(c)]; };
  json::object o;
  o["id"] = FromSql(at("id"));
  o["filename"] = FromSql(at("filename"));
  o["mimeType"] = FromSql(at("mime_type"));
  const store::Value& size = at("size");
  if (auto* d = std::get_if<double>(&size)) {
    o["size"] = int64_t(*d);
  } else {
    o["size"] = FromSql(size);
  }
  const std::string* key = SqlText(at("storage_key"));
  o["url"] = "/_emdash/api/media/file/" + (key ? *key : std::string());
  o["createdAt"] = FromSql(at("created_at"));
  return o;
}

constexpr const char* kColumns = "id, filename, mime_type, size, storage_key, created_at";

Result<CallResult> MediaGet(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kMediaRead));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows,
            conn->Query(std::string("SELECT ") + kColumns + " FROM media WHERE id = ?", {id}));
  if (rows.empty()) return Value(nullptr);
  return Value(MapMedia(rows, 0));
}

Result<CallResult> MediaList(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kMediaRead));
  int64_t limit = params::ListLimit(c.params);
  std::string sql = std::string("SELECT ") + kColumns + " FROM media WHERE status = 'ready'";
  std::vector<store::Value> args;
  if (auto* m = c.params.if_contains("mimeType"); m && m->is_string()) {
    // Escaped, unlike EmDash (a `_` in "image/x_icon" is not a wildcard here).
    sql += " AND mime_type " + std::string(c.db.dialect().LikeCi()) + " ? ESCAPE '\\'";
    args.emplace_back(LikePrefix(m->get_string()));
  }
  AppendIdPage(c.params, limit, &sql, &args);
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query(sql, args));
  return Value(IdPage(
      rows, limit, [&](size_t i) { return json::value(MapMedia(rows, i)); }, "cursor", true));
}

bool AllowedType(const std::string& t) {
  for (const char* p : {"image/", "video/", "audio/", "application/pdf"}) {
    if (t.rfind(p, 0) == 0) return true;
  }
  return false;
}

// Extension of the basename (after the last '/'), kept only if `.[a-z0-9]{1,10}` (any case).
std::string Extension(const std::string& filename) {
  size_t slash = filename.rfind('/');
  std::string base = slash == std::string::npos ? filename : filename.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string::npos) return "";
  std::string ext = base.substr(dot);
  return AllIn(std::string_view(ext).substr(1), kLower | kUpper | kDigit, 1, 10) ? ext : "";
}

Result<CallResult> MediaUpload(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kMediaWrite));
  PS_ASSIGN(std::string filename, params::RequiredString(c.params, "filename"));
  PS_ASSIGN(std::string content_type, params::RequiredString(c.params, "contentType"));
  const json::value* bytes_v = c.params.if_contains("bytes");
  bool bytes_ok = bytes_v && bytes_v->is_string();
  if (bytes_v && bytes_v->is_array()) {
    bytes_ok = true;
    for (const auto& e : bytes_v->get_array()) bytes_ok &= IsNumber(e);
  }
  if (!bytes_ok) return InvalidArgument("Parameter bytes must be a string or array of numbers");
  PS_ASSIGN(auto encoding, params::OptionalString(c.params, "encoding"));
  if (!c.options.media) {
    return InvalidArgument(
        "Media storage is not configured. Cannot upload files without a storage adapter.");
  }
  if (!AllowedType(content_type)) {
    return InvalidArgument("Unsupported content type: " + content_type +
                           ". Allowed: image/*, video/*, audio/*, application/pdf");
  }
  std::string media_id = NewUlid();
  std::string key = media_id + Extension(filename);
  std::string bytes;
  if (encoding && *encoding == "base64" && bytes_v->is_string()) {
    auto decoded = Base64Decode(bytes_v->get_string());
    if (!decoded) return InvalidArgument("media/upload: bytes is not valid base64");
    bytes = std::move(*decoded);
  } else if (bytes_v->is_array()) {
    for (const auto& e : bytes_v->get_array()) {
      double d = ToDouble(e);
      int64_t n = std::isfinite(d) ? int64_t(std::trunc(d)) : 0;  // like a Uint8Array element
      bytes += char(uint8_t(n & 0xFF));
    }
  } else {
    return InvalidArgument(
        "media/upload: bytes must be a base64-encoded string or an array of bytes");
  }
  PS_TRY(c.options.media->Upload(key, bytes, content_type));
  auto conn = c.db.Acquire();
  auto ins = conn->Exec(
      "INSERT INTO media (id, filename, mime_type, size, storage_key, status, created_at) VALUES "
      "(?, ?, ?, ?, ?, 'ready', ?)",
      {media_id, filename, content_type, int64_t(bytes.size()), key, Now()});
  if (!ins.ok()) {
    if (!c.options.media->Delete(key).ok()) {
      spdlog::warn(
          "[bridge] media/upload: DB insert failed and storage cleanup failed for {}. Storage "
          "object is leaked.",
          key);
    }
    return ins.status();
  }
  json::object out;
  out["mediaId"] = media_id;
  out["storageKey"] = key;
  out["url"] = "/_emdash/api/media/file/" + key;
  return Value(std::move(out));
}

Result<CallResult> MediaDelete(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kMediaWrite));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query("SELECT storage_key FROM media WHERE id = ?", {id}));
  if (rows.empty()) return Value(false);
  PS_ASSIGN(int64_t n, conn->Exec("DELETE FROM media WHERE id = ?", {id}));
  const std::string* key = SqlText(rows.rows[0][0]);
  if (c.options.media && key && !key->empty()) {
    auto st = c.options.media->Delete(*key);
    if (!st.ok())
      spdlog::warn("[bridge] Failed to delete storage object {}: {}", *key, st.message());
  }
  return Value(n > 0);
}

}  // namespace

void AddMediaMethods(MethodTable& t) {
  t["media/get"] = MediaGet;
  t["media/list"] = MediaList;
  t["media/upload"] = MediaUpload;
  t["media/delete"] = MediaDelete;
}

}  // namespace ps::bridge
