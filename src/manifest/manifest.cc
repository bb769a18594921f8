// Manifest validation. Where runner.md §1 is silent we decided:
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
#include <climits>
#include <cmath>
#include <set>

#include "capabilities/capabilities.h"

namespace ps::manifest {
namespace {

constexpr size_t kMaxNameLength = 128;

// ---- Problem lists --------------------------------------------------------------------------

// Collects "<source>: <json path>: <text>" lines.
class Lines {
 public:
  explicit Lines(std::string_view source) : source_(source) {}
  void Add(std::string_view path, std::string_view text) {
    std::string line(source_);
    line += ": ";
    line += path.empty() ? "(root)" : path;
    line += ": ";
    line += text;
    lines_.push_back(std::move(line));
  }
  bool empty() const { return lines_.empty(); }
  std::vector<std::string>& lines() { return lines_; }
  std::string Joined() const {
    std::string out;
    for (const auto& l : lines_) {
      if (!out.empty()) out += '\n';
      out += l;
    }
    return out;
  }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

// ---- JSON paths and kinds -------------------------------------------------------------------

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

// JavaScript-style paths: storage.entries.indexes[1][0], hooks[2].priority, storage["my col"].
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

// JavaScript's Number.isInteger, within the range an int64 holds exactly.
std::optional<int64_t> AsInteger(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > uint64_t(INT64_MAX)) return std::nullopt;
    return int64_t(v.get_uint64());
  }
  if (v.is_double()) {
    double d = v.get_double();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= 9007199254740992.0)
      return int64_t(d);
  }
  return std::nullopt;
}

// ---- Name rules -----------------------------------------------------------------------------

// ^[a-z][a-z0-9_-]*$
bool IsPluginId(std::string_view s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiAlnum(char c) { return IsAsciiAlpha(c) || (c >= '0' && c <= '9'); }

// ^[a-zA-Z][a-zA-Z0-9_-]*$
bool IsCollectionName(std::string_view s) {
  if (s.empty() || !IsAsciiAlpha(s[0])) return false;
  for (char c : s)
    if (!(IsAsciiAlnum(c) || c == '_' || c == '-')) return false;
  return true;
}

// ^[a-zA-Z][a-zA-Z0-9_]*$
bool IsFieldName(std::string_view s) {
  if (s.empty() || !IsAsciiAlpha(s[0])) return false;
  for (char c : s)
    if (!(IsAsciiAlnum(c) || c == '_')) return false;
  return true;
}

// ^[a-zA-Z0-9][a-zA-Z0-9_\-/]*$
bool IsRouteName(std::string_view s) {
  if (s.empty() || !IsAsciiAlnum(s[0])) return false;
  for (char c : s)
    if (!(IsAsciiAlnum(c) || c == '_' || c == '-' || c == '/')) return false;
  return true;
}

constexpr std::string_view kIdRule =
    "a non-empty string matching ^[a-z][a-z0-9_-]*$, at most 128 characters";

// Checks one allowedHosts pattern; returns the reason it is refused, or empty.
//
// Patterns are compared with a URL's hostname (lower-cased, without port) by exact string
// equality (bridge.md §8.3), so we accept exactly what can match: a host name or IP address, a
// bracketed IPv6 literal, `*.suffix`, or `*` alone (every host: EmDash accepts it). Ports are
// refused rather than silently never matching: a pattern covers every port of its host.
// Upper-case letters are accepted and lower-cased by the caller.
std::string HostProblem(std::string_view h) {
  const std::string example = "expected a host such as api.example.com, *.example.com or *";
  if (h.empty()) return "empty host; " + example;
  if (h.find("://") != std::string_view::npos)
    return Quote(h) + " is a URL; " + example + " (no scheme)";
  if (h == "*") return "";
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 4) {
      if (h.find("]:") != std::string_view::npos)
        return Quote(h) + " has a port; a host pattern matches every port of its host";
      return Quote(h) + " is not a bracketed IPv6 address such as [::1]";
    }
    for (char c : h.substr(1, h.size() - 2))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.'))
        return Quote(h) + " is not a bracketed IPv6 address such as [::1]";
    return "";
  }
  for (char c : h) {
    if (c == '/' || c == '?' || c == '#') return Quote(h) + " has a path or query; " + example;
    if (c == '@') return Quote(h) + " has user information; " + example;
  }
  size_t colons = std::count(h.begin(), h.end(), ':');
  if (colons > 1) return Quote(h) + ": an IPv6 address must be in brackets, such as [::1]";
  if (colons == 1)
    return Quote(h) + " has a port; a host pattern matches every port of its host (drop " +
           Quote(h.substr(h.find(':'))) + ")";
  std::string_view name = h;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.find('*') != std::string_view::npos)
    return Quote(h) + ": a wildcard is allowed only as a leading \"*.\" or as \"*\" alone";
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80)
      return Quote(h) + " is not ASCII; write an internationalized name in its xn-- form";
    if (!(IsAsciiAlnum(c) || c == '-' || c == '.' || c == '_'))
      return Quote(h) + " contains " + Quote(std::string(1, c)) + ", which no host name holds";
  }
  if (name.empty() || name.front() == '.' || name.back() == '.' ||
      name.find("..") != std::string_view::npos)
    return Quote(h) + " has an empty label; " + example;
  return "";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

// ---- The parser -----------------------------------------------------------------------------

class Parser {
 public:
  Parser(const json::object& doc, std::string_view source)
      : doc_(doc), source_(source), problems_(source), warnings_(source) {}

  Result<Manifest> Run();

 private:
  const json::value* Field(std::string_view key) const {
    auto it = doc_.find(key);
    return it == doc_.end() ? nullptr : &it->value();
  }

  void ParseId();
  void ParseVersion();
  // The valid entries; `ok` false when some entry was refused.
  std::vector<std::string> ParseCapabilities(bool* ok);
  std::vector<std::string> ParseHostList(const json::value& v, const std::string& path);
  void ParseDeclaredAccess(const json::value& v);
  void ParseStorage();
  std::vector<std::vector<std::string>> ParseIndexList(const json::value& v,
                                                       const std::string& path);
  void ParseHooks();
  void ParseRoutes();
  struct Entry {
    const json::object* object = nullptr;  // the object form, or null for a bare name
    std::string name_path;
    bool have_name = false;
    bool ok = true;
    bool skip = false;
  };
  Entry ReadEntry(const json::value& e, const std::string& path, const std::string& expected_name,
                  const std::string& expected_entry, std::string* name);
  bool FirstDeclaration(std::vector<std::pair<std::string, std::string>>& seen,
                        const std::string& what, const std::string& name, const std::string& path,
                        const std::string& name_path);
  void BoolOption(const json::object& o, const std::string& path, std::string_view key, bool* dst,
                  bool* ok);
  void CheckObjectField(std::string_view key);
  void CheckNetworkHosts(bool from_declared_access);
  void WarnHookGate();

  const json::object& doc_;
  std::string source_;
  Lines problems_;
  Lines warnings_;
  Manifest m_;
  // Set when declaredAccess is present and valid enough to derive from.
  std::optional<std::vector<std::string>> derived_caps_;
  std::vector<std::string> derived_hosts_;
};

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

std::vector<std::string> Parser::ParseCapabilities(bool* ok_out) {
  *ok_out = true;
  const json::value* v = Field("capabilities");
  // EmDash's schema requires the key; a missing list means no capabilities here.
  if (!v) return {};
  if (!v->is_array()) {
    problems_.Add("capabilities", Got(*v) + "; expected an array of capability names");
    *ok_out = false;
    return {};
  }
  std::vector<std::string> out;
  bool& ok = *ok_out;
  const auto& arr = v->get_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string path = Index("capabilities", i);
    if (!arr[i].is_string()) {
      problems_.Add(path, Got(arr[i]) + "; expected a capability name (string)");
      ok = false;
      continue;
    }
    std::string_view name = arr[i].get_string();
    if (!caps::IsAccepted(name)) {
      std::vector<std::string_view> legacy;
      for (auto n : caps::AcceptedNames())
        if (caps::IsLegacy(n)) legacy.push_back(n);
      problems_.Add(path, "unknown capability " + Quote(name) + "; expected one of " +
                              Join(caps::CurrentNames()) + " (or a legacy name: " + Join(legacy) +
                              ")");
      ok = false;
      continue;
    }
    if (caps::IsLegacy(name))
      warnings_.Add(path, "legacy capability " + Quote(name) + " is read as " +
                              Quote(caps::Normalize(name)) + "; use the current name");
    out.emplace_back(name);
  }
  return out;
}

std::vector<std::string> Parser::ParseHostList(const json::value& v, const std::string& path) {
  std::vector<std::string> out;
  if (!v.is_array()) {
    problems_.Add(path, Got(v) + "; expected an array of hosts (api.example.com, *.example.com)");
    return out;
  }
  const auto& arr = v.get_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string p = Index(path, i);
    if (!arr[i].is_string()) {
      problems_.Add(p, Got(arr[i]) + "; expected a host (string) such as api.example.com");
      continue;
    }
    std::string_view h = arr[i].get_string();
    std::string why = HostProblem(h);
    if (!why.empty()) {
      problems_.Add(p, why);
      continue;
    }
    // URL hostnames are lower-case and patterns are compared exactly: an upper-case pattern
    // could never match, so it is lower-cased here. Duplicates are dropped.
    std::string host = Lower(h);
    if (std::find(out.begin(), out.end(), host) == out.end()) out.push_back(std::move(host));
  }
  return out;
}

// bridge.md §1.2 (reconcileManifestAccess): when declaredAccess is present, capabilities and
// allowedHosts are derived from it, closed under write ⇒ read and unrestricted ⇒ request.
// Categories and operations we do not know (newer EmDash ones such as schema.read) grant
// nothing here; they are kept in the manifest and reported as warnings.
void Parser::ParseDeclaredAccess(const json::value& v) {
  const std::string root = "declaredAccess";
  if (!v.is_object()) {
    problems_.Add(root, Got(v) + "; expected an object such as {\"content\": {\"read\": {}}}");
    return;
  }
  struct Op {
    std::string_view category, operation, capability, implied;
  };
  static const Op kOps[] = {
      {"content", "read", caps::kContentRead, ""},
      {"content", "write", caps::kContentWrite, caps::kContentRead},
      {"media", "read", caps::kMediaRead, ""},
      {"media", "write", caps::kMediaWrite, caps::kMediaRead},
      {"taxonomies", "read", caps::kTaxonomiesRead, ""},
      {"users", "read", caps::kUsersRead, ""},
      {"email", "send", caps::kEmailSend, ""},
      {"email", "events", caps::kEmailEvents, ""},
      {"email", "transport", caps::kEmailTransport, ""},
      {"page", "fragments", caps::kPageFragments, ""},
      {"network", "request", caps::kNetworkRequest, ""},
  };
  std::set<std::string_view> granted;
  bool ok = true;
  for (const auto& [category, ops] : v.get_object()) {
    std::string cpath = Key(root, category);
    bool known_category = false;
    for (const auto& op : kOps) known_category |= op.category == category;
    if (!ops.is_object()) {
      problems_.Add(cpath, Got(ops) + "; expected an object of operations such as {\"read\": {}}");
      ok = false;
      continue;
    }
    if (!known_category) {
      warnings_.Add(cpath, "unknown access category; it grants nothing here");
      continue;
    }
    for (const auto& [operation, constraints] : ops.get_object()) {
      std::string opath = Key(cpath, operation);
      const Op* found = nullptr;
      for (const auto& op : kOps)
        if (op.category == category && op.operation == operation) found = &op;
      if (!found) {
        warnings_.Add(opath, "unknown access operation; it grants nothing here");
        continue;
      }
      if (!constraints.is_object()) {
        problems_.Add(opath, Got(constraints) +
                                 "; expected an object of constraints ({} grants the operation)");
        ok = false;
        continue;
      }
      granted.insert(found->capability);
      if (!found->implied.empty()) granted.insert(found->implied);
      if (found->capability == caps::kNetworkRequest) {
        const auto& c = constraints.get_object();
        auto it = c.find("allowedHosts");
        if (it == c.end()) {
          granted.insert(caps::kNetworkUnrestricted);  // absent = unrestricted
        } else {
          size_t before = problems_.lines().size();
          derived_hosts_ = ParseHostList(it->value(), Key(opath, "allowedHosts"));
          ok &= problems_.lines().size() == before;
        }
      }
    }
  }
  if (!ok) return;
  std::vector<std::string> derived;
  for (auto name : caps::CurrentNames())
    if (granted.count(name)) derived.emplace_back(name);
  derived_caps_ = std::move(derived);
}

std::vector<std::vector<std::string>> Parser::ParseIndexList(const json::value& v,
                                                             const std::string& path) {
  const std::string expected =
      "expected an array of field names or arrays of field names, such as [\"status\", "
      "[\"author\", \"createdAt\"]]";
  std::vector<std::vector<std::string>> out;
  if (!v.is_array()) {
    problems_.Add(path, Got(v) + "; " + expected);
    return out;
  }
  auto field = [&](const json::value& f, const std::string& p) -> std::optional<std::string> {
    const std::string rule =
        "a field name matching ^[a-zA-Z][a-zA-Z0-9_]*$, at most 128 characters";
    if (!f.is_string()) {
      problems_.Add(p, Got(f) + "; expected " + rule);
      return std::nullopt;
    }
    std::string_view s = f.get_string();
    if (s.size() > kMaxNameLength) {
      problems_.Add(p, "field name is " + std::to_string(s.size()) +
                           " characters long; expected at most 128");
      return std::nullopt;
    }
    if (!IsFieldName(s)) {
      problems_.Add(p, "field name " + Quote(s) + " does not match ^[a-zA-Z][a-zA-Z0-9_]*$");
      return std::nullopt;
    }
    return std::string(s);
  };
  const auto& arr = v.get_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string p = Index(path, i);
    if (arr[i].is_array()) {
      const auto& fields = arr[i].get_array();
      if (fields.empty()) {
        problems_.Add(p, "empty composite index; expected at least one field name");
        continue;
      }
      std::vector<std::string> composite;
      bool ok = true;
      for (size_t j = 0; j < fields.size(); ++j) {
        auto f = field(fields[j], Index(p, j));
        if (f) composite.push_back(std::move(*f));
        ok &= f.has_value();
      }
      if (ok) out.push_back(std::move(composite));
    } else if (arr[i].is_string()) {
      if (auto f = field(arr[i], p)) out.push_back({std::move(*f)});
    } else {
      problems_.Add(p, Got(arr[i]) + "; expected a field name or an array of field names");
    }
  }
  return out;
}

void Parser::ParseStorage() {
  const json::value* v = Field("storage");
  if (!v) return;
  if (!v->is_object()) {
    problems_.Add("storage", Got(*v) +
                                 "; expected an object mapping collection names to "
                                 "{\"indexes\": [...], \"uniqueIndexes\"?: [...]}");
    return;
  }
  for (const auto& [name, spec] : v->get_object()) {
    std::string path = Key("storage", name);
    if (name.size() > kMaxNameLength) {
      problems_.Add(path, "collection name is " + std::to_string(name.size()) +
                              " characters long; expected at most 128");
    } else if (!IsCollectionName(name)) {
      problems_.Add(path,
                    "collection name " + Quote(name) + " does not match ^[a-zA-Z][a-zA-Z0-9_-]*$");
    }
    if (!spec.is_object()) {
      problems_.Add(path, Got(spec) + "; expected {\"indexes\": [...], \"uniqueIndexes\"?: [...]}");
      continue;
    }
    StorageCollection c;
    c.name = std::string(name);
    const auto& o = spec.get_object();
    auto idx = o.find("indexes");
    if (idx == o.end()) {
      problems_.Add(Key(path, "indexes"),
                    "missing; expected an array of field names or arrays of field names (it may "
                    "be empty)");
    } else {
      c.indexes = ParseIndexList(idx->value(), Key(path, "indexes"));
    }
    auto uidx = o.find("uniqueIndexes");
    if (uidx != o.end())
      c.unique_indexes = ParseIndexList(uidx->value(), Key(path, "uniqueIndexes"));
    m_.storage.push_back(std::move(c));
  }
}

// A `hooks` or `routes` entry: a bare name, or an object whose `name` is a string. Reports a
// missing or mistyped name; `skip` means the entry is neither form (reported) and is dropped.
Parser::Entry Parser::ReadEntry(const json::value& e, const std::string& path,
                                const std::string& expected_name, const std::string& expected_entry,
                                std::string* name) {
  Entry out;
  out.name_path = path;
  if (e.is_string()) {
    *name = std::string(e.get_string());
    out.have_name = true;
    return out;
  }
  if (!e.is_object()) {
    problems_.Add(path, Got(e) + expected_entry);
    out.skip = true;
    return out;
  }
  out.object = &e.get_object();
  out.name_path = Key(path, "name");
  auto it = out.object->find("name");
  if (it == out.object->end()) {
    problems_.Add(out.name_path, "missing; " + expected_name);
    out.ok = false;
  } else if (!it->value().is_string()) {
    problems_.Add(out.name_path, Got(it->value()) + "; " + expected_name);
    out.ok = false;
  } else {
    *name = std::string(it->value().get_string());
    out.have_name = true;
  }
  return out;
}

// Records `name` as declared at `path`; false (reported) when it was declared before.
bool Parser::FirstDeclaration(std::vector<std::pair<std::string, std::string>>& seen,
                              const std::string& what, const std::string& name,
                              const std::string& path, const std::string& name_path) {
  auto dup = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == name; });
  if (dup != seen.end()) {
    problems_.Add(name_path, "duplicate " + what + " " + Quote(name) + " (already declared at " +
                                 dup->second + "); declare each " + what + " once");
    return false;
  }
  seen.emplace_back(name, path);
  return true;
}

// An optional boolean member of an entry object.
void Parser::BoolOption(const json::object& o, const std::string& path, std::string_view key,
                        bool* dst, bool* ok) {
  auto x = o.find(key);
  if (x == o.end()) return;
  if (x->value().is_bool()) {
    *dst = x->value().get_bool();
  } else {
    problems_.Add(Key(path, key), Got(x->value()) + "; expected true or false");
    *ok = false;
  }
}

void Parser::ParseHooks() {
  const json::value* v = Field("hooks");
  if (!v) return;
  m_.has_hooks = true;
  const std::string expected_name = "expected one of the 25 hook names (" + Join(HookNames()) + ")";
  if (!v->is_array()) {
    problems_.Add("hooks", Got(*v) +
                               "; expected an array of hook names or {name, exclusive?, "
                               "priority?, timeout?} objects");
    return;
  }
  const auto& arr = v->get_array();
  std::vector<std::pair<std::string, std::string>> seen;  // name, path
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string path = Index("hooks", i);
    const json::value& e = arr[i];
    HookDecl h;
    Entry entry =
        ReadEntry(e, path, expected_name,
                  "; expected a hook name or {name, exclusive?, priority?, timeout?}", &h.name);
    if (entry.skip) continue;
    bool ok = entry.ok;
    if (entry.object) {
      const auto& o = *entry.object;
      BoolOption(o, path, "exclusive", &h.exclusive, &ok);
      if (auto x = o.find("priority"); x != o.end()) {
        if (auto n = AsInteger(x->value())) {
          h.priority = *n;
        } else {
          problems_.Add(Key(path, "priority"),
                        Got(x->value()) + "; expected an integer (lower runs first; default 100)");
          ok = false;
        }
      }
      if (auto x = o.find("timeout"); x != o.end()) {
        auto n = AsInteger(x->value());
        if (n && *n > 0) {
          h.timeout_ms = *n;
        } else {
          problems_.Add(Key(path, "timeout"),
                        Got(x->value()) + "; expected a positive integer (milliseconds)");
          ok = false;
        }
      }
      if (auto x = o.find("dependencies"); x != o.end()) {
        std::string dpath = Key(path, "dependencies");
        if (!x->value().is_array()) {
          problems_.Add(dpath, Got(x->value()) + "; expected an array of plugin ids");
          ok = false;
        } else {
          const auto& deps = x->value().get_array();
          for (size_t j = 0; j < deps.size(); ++j) {
            if (deps[j].is_string() && !deps[j].get_string().empty()) {
              h.dependencies.emplace_back(deps[j].get_string());
            } else {
              problems_.Add(Index(dpath, j), Got(deps[j]) + "; expected a non-empty plugin id");
              ok = false;
            }
          }
        }
      }
      if (auto x = o.find("errorPolicy"); x != o.end()) {
        const json::value& p = x->value();
        if (p.is_string() && (p.get_string() == "continue" || p.get_string() == "abort")) {
          h.error_policy = std::string(p.get_string());
        } else {
          problems_.Add(Key(path, "errorPolicy"), Got(p) + "; expected \"continue\" or \"abort\"");
          ok = false;
        }
      }
    }
    if (entry.have_name) {
      if (!IsHookName(h.name)) {
        problems_.Add(entry.name_path, "unknown hook " + Quote(h.name) + "; " + expected_name);
        ok = false;
      } else {
        ok &= FirstDeclaration(seen, "hook", h.name, path, entry.name_path);
      }
    }
    if (ok) m_.hooks.push_back(std::move(h));
  }
}

void Parser::ParseRoutes() {
  const json::value* v = Field("routes");
  if (!v) return;
  const std::string rule = "a route name matching ^[a-zA-Z0-9][a-zA-Z0-9_\\-/]*$";
  if (!v->is_array()) {
    problems_.Add("routes", Got(*v) +
                                "; expected an array of route names or {name, public?, "
                                "permission?, cacheControl?} objects");
    return;
  }
  const auto& arr = v->get_array();
  std::vector<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string path = Index("routes", i);
    const json::value& e = arr[i];
    RouteDecl r;
    Entry entry = ReadEntry(
        e, path, "expected " + rule,
        "; expected a route name or {name, public?, permission?, cacheControl?}", &r.name);
    if (entry.skip) continue;
    bool ok = entry.ok;
    if (entry.object) {
      const auto& o = *entry.object;
      BoolOption(o, path, "public", &r.is_public, &ok);
      auto text = [&](std::string_view key, std::optional<std::string>& dst) {
        auto x = o.find(key);
        if (x == o.end()) return;
        if (x->value().is_string() && !x->value().get_string().empty()) {
          dst = std::string(x->value().get_string());
        } else {
          problems_.Add(Key(path, key), Got(x->value()) + "; expected a non-empty string");
          ok = false;
        }
      };
      text("permission", r.permission);
      text("cacheControl", r.cache_control);
    }
    if (entry.have_name) {
      if (!IsRouteName(r.name)) {
        problems_.Add(entry.name_path, "route name " + Quote(r.name) + " does not match " +
                                           "^[a-zA-Z0-9][a-zA-Z0-9_\\-/]*$");
        ok = false;
      } else {
        ok &= FirstDeclaration(seen, "route", r.name, path, entry.name_path);
      }
    }
    if (ok) m_.routes.push_back(std::move(r));
  }
}

// admin and mcp belong to EmDash's admin UI: kept, not interpreted, only type-checked.
void Parser::CheckObjectField(std::string_view key) {
  const json::value* v = Field(key);
  if (v && !v->is_object()) problems_.Add(key, Got(*v) + "; expected an object");
}

// runner.md §1: network:request needs at least one host; network:request:unrestricted needs
// none. Hosts given together with unrestricted are accepted and unused (a warning says so).
void Parser::CheckNetworkHosts(bool from_declared_access) {
  caps::CapabilitySet set(m_.capabilities);
  bool unrestricted = set.Has(caps::kNetworkUnrestricted);
  bool request = set.Has(caps::kNetworkRequest);
  std::string path =
      from_declared_access ? "declaredAccess.network.request.allowedHosts" : "allowedHosts";
  if (request && !unrestricted && m_.allowed_hosts.empty()) {
    problems_.Add(path,
                  "network:request needs at least one host (api.example.com or *.example.com); "
                  "list the hosts the plugin fetches from, or declare "
                  "network:request:unrestricted");
  } else if (unrestricted && !m_.allowed_hosts.empty()) {
    warnings_.Add(path, "unused: network:request:unrestricted allows every public host");
  } else if (!request && !m_.allowed_hosts.empty()) {
    warnings_.Add(path, "unused: the plugin does not declare network:request");
  }
}

void Parser::WarnHookGate() {
  caps::CapabilitySet set(m_.capabilities);
  const json::value* hooks = Field("hooks");
  for (size_t i = 0; i < m_.hooks.size(); ++i) {
    std::string_view need = HookRequiredCapability(m_.hooks[i].name);
    if (need.empty() || set.Has(need)) continue;
    // Find the entry's index in the source array for the path.
    size_t at = i;
    if (hooks && hooks->is_array()) {
      const auto& arr = hooks->get_array();
      for (size_t j = 0; j < arr.size(); ++j) {
        const json::value& e = arr[j];
        std::string_view n;
        if (e.is_string()) n = e.get_string();
        if (e.is_object() && e.get_object().contains("name") &&
            e.get_object().at("name").is_string())
          n = e.get_object().at("name").get_string();
        if (n == m_.hooks[i].name) {
          at = j;
          break;
        }
      }
    }
    warnings_.Add(Index("hooks", at), "hook " + m_.hooks[i].name + " needs capability " +
                                          std::string(need) +
                                          ", which the manifest does not declare; it will not "
                                          "be registered");
  }
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

}  // namespace

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
    return InvalidArgument(std::string(source) + ": (root): " + Got(doc) +
                           "; expected a JSON object with id, version, capabilities, …");
  return Parser(doc.get_object(), source).Run();
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
