// The manifest parser's inside, shared by its files; not an interface (callers include
// manifest.h).
//
//   manifest.cc      the entry points, the walk over the fields in document order, id and
//                    version, the normalized JSON, the hook names
//   access.cc        what the plugin may do: capabilities, allowedHosts, declaredAccess and the
//                    rule that ties network access to hosts
//   declarations.cc  what the plugin brings: storage collections and their indexes, hooks,
//                    routes, and the capability gate's warnings on hooks
//
// Contract: a Parser is used once. Each Parse*/Check* method adds one line per problem to
// `problems_` (and one per valid but doubtful thing to `warnings_`) and keeps going with what it
// could read, so that one pass reports every problem; Run() calls them in document order,
// applies the rules that span fields, and returns `m_` only when no problem was added. Paths in
// those lines are JavaScript-style (Key, Index) so that an author can find the field in their
// file.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "manifest/manifest.h"

namespace ps::manifest::internal {

inline constexpr size_t kMaxNameLength = 128;

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

// JavaScript-style paths: storage.entries.indexes[1][0], hooks[2].priority, storage["my col"].
std::string Key(std::string_view parent, std::string_view key);
std::string Index(std::string_view parent, size_t i);
// "got the string \"x\"", "got null", …: how a problem line names what it found.
std::string Got(const json::value& v);
std::string Join(const std::vector<std::string_view>& names);
std::string Join(const std::vector<std::string>& names);

// Name rules are ASCII whatever the locale.
inline bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool IsAsciiAlnum(char c) { return IsAsciiAlpha(c) || (c >= '0' && c <= '9'); }

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

}  // namespace ps::manifest::internal
