// The capability vocabulary (bridge.md §1) and the host-side check.
//
// Owns: which 22 names a manifest may declare, how the 10 legacy names map to the 12 current
// ones, and whether a plugin's (normalized) list grants a current name. This is the one place a
// capability is decided; the bridge calls Require() before every guarded method.
//
// Rules (spec/README.md decision 1): write never implies read; `network:request:unrestricted`
// satisfies `network:request`; denials read `Missing capability: <current name>`.
// May call: common/. Called by: manifest/, bridge/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ps::caps {

inline constexpr std::string_view kNetworkRequest = "network:request";
inline constexpr std::string_view kNetworkUnrestricted = "network:request:unrestricted";
inline constexpr std::string_view kContentRead = "content:read";
inline constexpr std::string_view kContentWrite = "content:write";
inline constexpr std::string_view kTaxonomiesRead = "taxonomies:read";
inline constexpr std::string_view kMediaRead = "media:read";
inline constexpr std::string_view kMediaWrite = "media:write";
inline constexpr std::string_view kUsersRead = "users:read";
inline constexpr std::string_view kEmailSend = "email:send";
inline constexpr std::string_view kEmailTransport = "hooks.email-transport:register";
inline constexpr std::string_view kEmailEvents = "hooks.email-events:register";
inline constexpr std::string_view kPageFragments = "hooks.page-fragments:register";

// The 12 current names, in the order of bridge.md §1.1.
const std::vector<std::string_view>& CurrentNames();
// All 22 accepted names (current, then legacy).
const std::vector<std::string_view>& AcceptedNames();

bool IsAccepted(std::string_view name);
bool IsLegacy(std::string_view name);
// Legacy -> current; current and unknown names pass through unchanged.
std::string Normalize(std::string_view name);
// Maps every entry, keeps first-seen order, drops duplicates after mapping.
std::vector<std::string> NormalizeAll(const std::vector<std::string>& names);

// A plugin's granted capabilities, already normalized.
class CapabilitySet {
 public:
  CapabilitySet() = default;
  explicit CapabilitySet(std::vector<std::string> normalized) : names_(std::move(normalized)) {}

  // True iff `current` is granted (with the network superset rule).
  bool Has(std::string_view current) const;
  // Ok, or PermissionDenied "Missing capability: <current>".
  Status Require(std::string_view current) const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  bool Literal(std::string_view n) const;
  std::vector<std::string> names_;
};

}  // namespace ps::caps
