#include "bridge/token.h"

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json.h"

namespace ps::bridge {
namespace {

json::array ToArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

bool StringArray(const json::object& o, std::string_view key, std::vector<std::string>* out) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_array()) return false;
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) return false;
    out->emplace_back(e.get_string());
  }
  return true;
}

Status Invalid() { return Status(Code::kUnauthenticated, "Invalid auth token"); }

}  // namespace

TokenAuthority TokenAuthority::Generate() { return TokenAuthority(HexEncode(RandomBytes(32))); }

std::string TokenAuthority::IssueBridgeToken(const Grant& g) const {
  json::object payload;  // key order is part of the format
  payload["pluginId"] = g.plugin_id;
  payload["version"] = g.version;
  payload["capabilities"] = ToArray(g.capabilities);
  payload["allowedHosts"] = ToArray(g.allowed_hosts);
  payload["storageCollections"] = ToArray(g.storage_collections);
  std::string text = Stringify(payload);
  return Base64UrlEncode(text) + "." + Base64UrlEncode(HmacSha256(key_, text));
}

Result<Grant> TokenAuthority::VerifyBridgeToken(std::string_view token) const {
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= token.size() ||
      token.find('.', dot + 1) != std::string_view::npos) {
    return Invalid();
  }
  std::string_view payload_text = token.substr(0, dot);
  {
    std::lock_guard<std::mutex> lock(verified_->mu);
    auto it = verified_->entries.find(payload_text);
    if (it != verified_->entries.end()) {
      if (!ConstantTimeEquals(token.substr(dot + 1), it->second.first)) return Invalid();
      return it->second.second;
    }
  }
  auto payload = Base64UrlDecode(payload_text);
  if (!payload) return Invalid();
  std::string expected = Base64UrlEncode(HmacSha256(key_, *payload));
  if (!ConstantTimeEquals(token.substr(dot + 1), expected)) return Invalid();
  auto parsed = ParseJson(*payload);
  if (!parsed.ok() || !parsed->is_object()) return Invalid();
  const auto& o = parsed->get_object();
  Grant g;
  auto* id = o.if_contains("pluginId");
  auto* ver = o.if_contains("version");
  if (!id || !id->is_string() || !ver || !ver->is_string()) return Invalid();
  g.plugin_id = id->get_string();
  g.version = ver->get_string();
  if (!StringArray(o, "capabilities", &g.capabilities) ||
      !StringArray(o, "allowedHosts", &g.allowed_hosts) ||
      !StringArray(o, "storageCollections", &g.storage_collections)) {
    return Invalid();
  }
  std::lock_guard<std::mutex> lock(verified_->mu);
  if (verified_->entries.size() >= kMaxVerified) verified_->entries.clear();
  verified_->entries.emplace(std::string(payload_text), std::make_pair(std::move(expected), g));
  return g;
}

std::string TokenAuthority::InvokeToken(std::string_view plugin_id,
                                        std::string_view version) const {
  std::string msg = "invoke\n";
  msg += plugin_id;
  msg += '\n';
  msg += version;
  return HexEncode(HmacSha256(key_, msg));
}

bool TokenAuthority::VerifyInvokeToken(std::string_view plugin_id, std::string_view version,
                                       std::string_view presented) const {
  return ConstantTimeEquals(presented, InvokeToken(plugin_id, version));
}

}  // namespace ps::bridge
