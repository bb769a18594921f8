// The manifest's entry points and the normalized result: reading JSON and JSONC text, the walk
// over a manifest's fields in document order with the rules that span fields, `id` and
// `version`, the JSON that `check` prints, and the hook names with the capability each needs.
// The per-field rules live in access.cc and declarations.cc (see manifest_internal.h).
//
// Where runner.md §1 is silent we decided (the rules of all three files):
// - `id` must always match ^[a-z][a-z0-9_-]*$ (≤128): it names storage indexes, sockets, data.
// - Only `id` and `version` are required; a missing capabilities/allowedHosts/storage/routes is
//   empty and a missing `hooks` means "the module's hooks decide" (has_hooks = false).
// - allowedHosts: a host name or IP, a bracketed IPv6 literal, `*.suffix` or `*` alone. Schemes,
//   paths, user info and ports are refused (a pattern matches every port of its host);
//   upper-case is lower-cased (URL hostnames are); duplicates are dropped.
// - network:request (not unrestricted) needs at least one host; hosts together with
//   network:request:unrestricted, or without any network capability, are accepted, unused, and
//   warned about.
// - declaredAccess: unknown categories/operations grant nothing (warning), an operation's value
//   must be an object; with it present, `capabilities`/`allowedHosts` are still type-checked
//   but replaced by the derived ones (warning when they differ).
// - Hook objects may also carry `dependencies` and `errorPolicy` (EmDash's schema has them);
//   extra keys of hook, route and storage objects are kept in ToJson().
// - Problems come in document order (id, version, capabilities, allowedHosts, declaredAccess,
//   storage, hooks, routes, admin, mcp), then the cross-field network rule.
#include "manifest/manifest.h"

#include <algorithm>
#include <cctype>

#include "capabilities/capabilities.h"
#include "manifest/manifest_internal.h"

namespace ps::manifest {
namespace internal {
namespace {

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  auto head = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$';
  };
  if (!head(s[0])) return false;
  for (char c : s)
    if (!head(c) && !std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// ^[a-z][a-z0-9_-]*$
bool IsPluginId(std::string_view s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

constexpr std::string_view kIdRule =
    "a non-empty string matching ^[a-z][a-z0-9_-]*$, at most 128 characters";

}  // namespace

std::string Key(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (IsIdentifier(key)) {
    if (!out.empty()) out += '.';
    out += key;
  } else {
    out += '[';
    out += Quote(key);
    out += ']';
  }
  return out;
}

std::string Index(std::string_view parent, size_t i) {
  return std::string(parent) + "[" + std::to_string(i) + "]";
}

std::string Got(const json::value& v) {
  if (v.is_string()) return "got the string " + Quote(v.get_string());
  if (v.is_bool()) return std::string("got ") + (v.get_bool() ? "true" : "false");
  if (v.is_null()) return "got null";
  if (IsNumber(v)) return "got the number " + Stringify(v);
  return "got " + std::string(v.is_array() ? "an array" : "an object");
}

std::string Join(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string Join(const std::vector<std::string>& names) {
  return Join(std::vector<std::string_view>(names.begin(), names.end()));
}

void Parser::ParseId() {
  const json::value* v = Field("id");
  // EmDash requires only a non-empty id, and the storage-index pattern only for indexes. We
  // require the pattern always: the id names the plugin's storage indexes, its socket and its
  // data, and it appears in URLs (runner.md §1, bridge.md §5.6).
  if (!v) return problems_.Add("id", "missing; expected " + std::string(kIdRule));
  if (!v->is_string()) return problems_.Add("id", Got(*v) + "; expected " + std::string(kIdRule));
  std::string_view id = v->get_string();
  if (id.empty()) return problems_.Add("id", "empty; expected " + std::string(kIdRule));
  if (id.size() > kMaxNameLength)
    return problems_.Add(
        "id", "is " + std::to_string(id.size()) + " characters long; expected at most 128");
  if (!IsPluginId(id))
    return problems_.Add("id", Quote(id) +
                                   " does not match ^[a-z][a-z0-9_-]*$ (lower-case letter first, "
                                   "then lower-case letters, digits, _ or -)");
  m_.id = std::string(id);
}

void Parser::ParseVersion() {
  const json::value* v = Field("version");
  if (!v) return problems_.Add("version", "missing; expected a non-empty string such as \"1.0.0\"");
  if (!v->is_string())
    return problems_.Add("version", Got(*v) + "; expected a non-empty string such as \"1.0.0\"");
  if (v->get_string().empty())
    return problems_.Add("version", "empty; expected a non-empty string such as \"1.0.0\"");
  m_.version = std::string(v->get_string());
}

// admin and mcp belong to EmDash's admin UI: kept, not interpreted, only type-checked.
void Parser::CheckObjectField(std::string_view key) {
  const json::value* v = Field(key);
  if (v && !v->is_object()) problems_.Add(key, Got(*v) + "; expected an object");
}

Result<Manifest> Parser::Run() {
  m_.raw = doc_;
  ParseId();
  ParseVersion();
  bool caps_ok = true;
  std::vector<std::string> caps_list = ParseCapabilities(&caps_ok);
  std::vector<std::string> hosts;
  size_t before_hosts = problems_.lines().size();
  if (const json::value* v = Field("allowedHosts")) hosts = ParseHostList(*v, "allowedHosts");
  bool hosts_ok = problems_.lines().size() == before_hosts;
  bool has_access = false;
  if (const json::value* v = Field("declaredAccess")) {
    has_access = true;
    ParseDeclaredAccess(*v);
  }
  ParseStorage();
  ParseHooks();
  ParseRoutes();
  CheckObjectField("admin");
  CheckObjectField("mcp");

  if (has_access) {
    if (derived_caps_) {
      if (caps_ok && Field("capabilities")) {
        auto declared = caps::NormalizeAll(caps_list);
        auto a = declared, b = *derived_caps_;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        if (a != b)
          warnings_.Add("capabilities",
                        "ignored: declaredAccess is present and decides the capabilities (" +
                            (b.empty() ? std::string("none") : Join(*derived_caps_)) + ")");
      }
      if (hosts_ok && !hosts.empty() && hosts != derived_hosts_)
        warnings_.Add("allowedHosts",
                      "ignored: declaredAccess is present and decides the hosts (" +
                          (derived_hosts_.empty() ? std::string("none") : Join(derived_hosts_)) +
                          ")");
      m_.declared_capabilities = *derived_caps_;
      m_.capabilities = *derived_caps_;
      m_.allowed_hosts = derived_hosts_;
      CheckNetworkHosts(true);
    }
  } else {
    // With some entries refused, the cross-field rules still run on the valid ones, so that
    // every problem is reported at once.
    m_.declared_capabilities = caps_list;
    m_.capabilities = caps::NormalizeAll(caps_list);
    m_.allowed_hosts = hosts;
    if (hosts_ok) CheckNetworkHosts(false);
  }
  if (!problems_.empty()) return InvalidArgument(problems_.Joined());
  WarnHookGate();
  m_.warnings = std::move(warnings_.lines());
  return std::move(m_);
}

}  // namespace internal

// ---- Public API -----------------------------------------------------------------------------

std::vector<std::string> StorageCollection::IndexedFields() const {
  std::vector<std::string> out;
  for (const auto* list : {&indexes, &unique_indexes})
    for (const auto& index : *list)
      for (const auto& f : index)
        if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  return out;
}

const StorageCollection* Manifest::FindCollection(std::string_view name) const {
  for (const auto& c : storage)
    if (c.name == name) return &c;
  return nullptr;
}

std::vector<std::string> Manifest::StorageCollectionNames() const {
  std::vector<std::string> out;
  for (const auto& c : storage) out.push_back(c.name);
  return out;
}

namespace {

json::array IndexesJson(const std::vector<std::vector<std::string>>& list) {
  json::array out;
  for (const auto& index : list) {
    if (index.size() == 1) {
      out.emplace_back(index[0]);
    } else {
      json::array fields;
      for (const auto& f : index) fields.emplace_back(f);
      out.emplace_back(std::move(fields));
    }
  }
  return out;
}

json::array Strings(const std::vector<std::string>& v) {
  json::array out;
  for (const auto& s : v) out.emplace_back(s);
  return out;
}

// The source entry of a hook or route named `name`, when it was written as an object.
const json::object* SourceEntry(const json::object& raw, std::string_view key,
                                std::string_view name) {
  auto it = raw.find(key);
  if (it == raw.end() || !it->value().is_array()) return nullptr;
  for (const auto& e : it->value().get_array()) {
    if (!e.is_object()) continue;
    const auto& o = e.get_object();
    auto n = o.find("name");
    if (n != o.end() && n->value().is_string() && n->value().get_string() == name) return &o;
  }
  return nullptr;
}

}  // namespace

json::object Manifest::ToJson() const {
  json::object out;
  out["id"] = id;
  out["version"] = version;
  out["capabilities"] = Strings(capabilities);
  out["allowedHosts"] = Strings(allowed_hosts);
  json::object st;
  for (const auto& c : storage) {
    json::object spec;
    // Keep any extra keys of the collection spec, then the normalized index lists.
    auto sit = raw.find("storage");
    if (sit != raw.end() && sit->value().is_object()) {
      const auto& so = sit->value().get_object();
      auto cit = so.find(c.name);
      if (cit != so.end() && cit->value().is_object()) spec = cit->value().get_object();
    }
    spec["indexes"] = IndexesJson(c.indexes);
    spec["uniqueIndexes"] = IndexesJson(c.unique_indexes);
    st[c.name] = std::move(spec);
  }
  out["storage"] = std::move(st);
  if (has_hooks) {
    json::array hs;
    for (const auto& h : hooks) {
      json::object o;
      o["name"] = h.name;
      o["exclusive"] = h.exclusive;
      if (h.priority) o["priority"] = *h.priority;
      if (h.timeout_ms) o["timeout"] = *h.timeout_ms;
      if (!h.dependencies.empty()) o["dependencies"] = Strings(h.dependencies);
      if (h.error_policy) o["errorPolicy"] = *h.error_policy;
      if (const json::object* src = SourceEntry(raw, "hooks", h.name))
        for (const auto& kv : *src)
          if (!o.contains(kv.key())) o[kv.key()] = kv.value();
      hs.emplace_back(std::move(o));
    }
    out["hooks"] = std::move(hs);
  }
  json::array rs;
  for (const auto& r : routes) {
    json::object o;
    o["name"] = r.name;
    o["public"] = r.is_public;
    if (r.permission) o["permission"] = *r.permission;
    if (r.cache_control) o["cacheControl"] = *r.cache_control;
    if (const json::object* src = SourceEntry(raw, "routes", r.name))
      for (const auto& kv : *src)
        if (!o.contains(kv.key())) o[kv.key()] = kv.value();
    rs.emplace_back(std::move(o));
  }
  out["routes"] = std::move(rs);
  for (const auto& kv : raw)
    if (!out.contains(kv.key())) out[kv.key()] = kv.value();
  return out;
}

Result<Manifest> ParseManifest(const json::value& doc, std::string_view source) {
  if (!doc.is_object())
    return InvalidArgument(std::string(source) + ": (root): " + internal::Got(doc) +
                           "; expected a JSON object with id, version, capabilities, …");
  return internal::Parser(doc.get_object(), source).Run();
}

Result<json::value> ParseJsonFile(std::string_view text, std::string_view source, bool jsonc) {
  json::parse_options opts;
  opts.max_depth = 64;
  opts.allow_comments = jsonc;
  opts.allow_trailing_commas = jsonc;
  json::stream_parser p({}, opts);
  boost::system::error_code ec;
  size_t used = p.write(text.data(), text.size(), ec);
  if (!ec) p.finish(ec);
  if (ec) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < std::min(used, text.size()); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return InvalidArgument(std::string(source) + ": invalid JSON at line " + std::to_string(line) +
                           ", column " + std::to_string(col) + ": " + ec.message());
  }
  return p.release();
}

Result<Manifest> ParseManifestText(std::string_view text, std::string_view source) {
  PS_ASSIGN(json::value doc, ParseJsonFile(text, source));
  return ParseManifest(doc, source);
}

const std::vector<std::string_view>& HookNames() {
  static const std::vector<std::string_view> kNames = {
      "plugin:install",          "plugin:activate",
      "plugin:deactivate",       "plugin:uninstall",
      "content:beforeSave",      "content:afterSave",
      "content:beforeDelete",    "content:afterDelete",
      "content:afterPublish",    "content:afterUnpublish",
      "content:afterRestore",    "content:afterSchedule",
      "content:afterUnschedule", "media:beforeUpload",
      "media:afterUpload",       "cron",
      "email:beforeSend",        "email:deliver",
      "email:afterSend",         "comment:beforeCreate",
      "comment:moderate",        "comment:afterCreate",
      "comment:afterModerate",   "page:metadata",
      "page:fragments",
  };
  return kNames;
}

bool IsHookName(std::string_view name) {
  const auto& all = HookNames();
  return std::find(all.begin(), all.end(), name) != all.end();
}

std::string_view HookRequiredCapability(std::string_view hook) {
  if (hook == "content:beforeSave") return caps::kContentWrite;
  if (hook.starts_with("content:")) return IsHookName(hook) ? caps::kContentRead : "";
  if (hook == "media:beforeUpload") return caps::kMediaWrite;
  if (hook == "media:afterUpload") return caps::kMediaRead;
  if (hook.starts_with("comment:")) return IsHookName(hook) ? caps::kUsersRead : "";
  if (hook == "email:beforeSend" || hook == "email:afterSend") return caps::kEmailEvents;
  if (hook == "email:deliver") return caps::kEmailTransport;
  if (hook == "page:fragments") return caps::kPageFragments;
  return "";
}

}  // namespace ps::manifest
