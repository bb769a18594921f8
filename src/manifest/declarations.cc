// What a plugin brings to the site, as its manifest declares it: storage collections and their
// indexes (field names become parts of SQL index names and JSON paths, so they are held to
// EmDash's patterns), hooks (known names only, with their ordering and failure options) and
// routes (names that fit in a URL path). A name declared twice is refused rather than merged,
// since no rule says which declaration would win. Hooks whose capability is missing are kept and
// warned about: the gate that skips them belongs to registration, not to validation.
#include <algorithm>
#include <climits>
#include <cmath>

#include "capabilities/capabilities.h"
#include "manifest/manifest_internal.h"

namespace ps::manifest::internal {
namespace {

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

}  // namespace

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

}  // namespace ps::manifest::internal
