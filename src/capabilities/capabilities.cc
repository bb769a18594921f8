#include "capabilities/capabilities.h"

#include <algorithm>
#include <utility>

namespace ps::caps {
namespace {

const std::vector<std::pair<std::string_view, std::string_view>>& LegacyTable() {
  static const std::vector<std::pair<std::string_view, std::string_view>> kTable = {
      {"network:fetch", kNetworkRequest}, {"network:fetch:any", kNetworkUnrestricted},
      {"read:content", kContentRead},     {"write:content", kContentWrite},
      {"read:media", kMediaRead},         {"write:media", kMediaWrite},
      {"read:users", kUsersRead},         {"email:provide", kEmailTransport},
      {"email:intercept", kEmailEvents},  {"page:inject", kPageFragments},
  };
  return kTable;
}

}  // namespace

const std::vector<std::string_view>& CurrentNames() {
  static const std::vector<std::string_view> kNames = {
      kNetworkRequest, kNetworkUnrestricted, kContentRead, kContentWrite,
      kTaxonomiesRead, kMediaRead,           kMediaWrite,  kUsersRead,
      kEmailSend,      kEmailTransport,      kEmailEvents, kPageFragments,
  };
  return kNames;
}

const std::vector<std::string_view>& AcceptedNames() {
  static const std::vector<std::string_view> kNames = [] {
    std::vector<std::string_view> v = CurrentNames();
    for (const auto& [legacy, current] : LegacyTable()) v.push_back(legacy);
    return v;
  }();
  return kNames;
}

bool IsAccepted(std::string_view name) {
  const auto& all = AcceptedNames();
  return std::find(all.begin(), all.end(), name) != all.end();
}

bool IsLegacy(std::string_view name) {
  for (const auto& [legacy, current] : LegacyTable())
    if (legacy == name) return true;
  return false;
}

std::string Normalize(std::string_view name) {
  for (const auto& [legacy, current] : LegacyTable())
    if (legacy == name) return std::string(current);
  return std::string(name);
}

std::vector<std::string> NormalizeAll(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    std::string c = Normalize(n);
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(std::move(c));
  }
  return out;
}

bool CapabilitySet::Literal(std::string_view n) const {
  return std::find(names_.begin(), names_.end(), n) != names_.end();
}

bool CapabilitySet::Has(std::string_view current) const {
  if (Literal(current)) return true;
  return current == kNetworkRequest && Literal(kNetworkUnrestricted);
}

Status CapabilitySet::Require(std::string_view current) const {
  if (Has(current)) return Status::Ok();
  return PermissionDenied("Missing capability: " + std::string(current));
}

}  // namespace ps::caps
