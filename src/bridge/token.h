// Bridge tokens (bridge.md §9.1, with the version-keying fix of §9.1's BUG).
//
// A bridge token is what a plugin's isolate presents on every bridge call. It binds the plugin's
// grant: id, version, normalized capabilities, allowed hosts and storage collections.
//   token = base64url(payload JSON) "." base64url(HMAC-SHA256(key, payload))
// The key is a per-host-start secret from the OS CSPRNG, rendered as 64 lowercase hex characters
// and used as those ASCII bytes (as EmDash does). MACs are compared in constant time.
// The invoke token authenticates host -> plugin calls; it is separate, and per plugin version, so
// one plugin's isolate cannot call another plugin's socket.
// May call: common/. Called by: bridge/ (verification), later runner/ (issuing).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ps::bridge {

struct Grant {
  std::string plugin_id;
  std::string version;
  std::vector<std::string> capabilities;  // normalized (current names)
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> storage_collections;

  bool operator==(const Grant&) const = default;
};

class TokenAuthority {
 public:
  // A fresh secret from the OS CSPRNG.
  static TokenAuthority Generate();
  // A given secret (64 hex chars); for tests and for processes that must agree on tokens.
  explicit TokenAuthority(std::string secret_hex) : key_(std::move(secret_hex)) {}

  std::string IssueBridgeToken(const Grant& grant) const;
  // The grant, or Unauthenticated "Invalid auth token" for anything forged, tampered or malformed.
  // A payload verified once is remembered with its expected MAC (bounded), so the plugin's every
  // later call costs one constant-time comparison instead of a MAC, a decode and a JSON parse.
  Result<Grant> VerifyBridgeToken(std::string_view token) const;

  std::string InvokeToken(std::string_view plugin_id, std::string_view version) const;
  bool VerifyInvokeToken(std::string_view plugin_id, std::string_view version,
                         std::string_view presented) const;

 private:
  // Verified payloads (the base64url text before the dot): the expected MAC text and the grant.
  // Only tokens whose MAC verified are ever added, so nobody without the key can fill it.
  struct Verified {
    std::mutex mu;
    std::map<std::string, std::pair<std::string, Grant>, std::less<>> entries;
  };
  static constexpr size_t kMaxVerified = 256;

  std::string key_;
  std::shared_ptr<Verified> verified_ = std::make_shared<Verified>();
};

}  // namespace ps::bridge
