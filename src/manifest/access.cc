// What a plugin may do, as its manifest grants it: `capabilities` (legacy names accepted and
// normalized), `allowedHosts` (checked for being a host pattern that can ever match a URL's
// hostname), `declaredAccess` (which, when present, decides both), and the rule that ties
// network:request to at least one host. The bridge and the fetcher enforce exactly what this
// file lets through, so it refuses what would be ambiguous there rather than guessing.
#include <algorithm>
#include <cctype>
#include <set>

#include "capabilities/capabilities.h"
#include "manifest/manifest_internal.h"

namespace ps::manifest::internal {
namespace {

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

}  // namespace

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

}  // namespace ps::manifest::internal
