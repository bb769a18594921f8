// URLs as a plugin's fetch sees them: the WHATWG URL Standard's parser, for the two schemes a
// plugin may fetch (http, https), reduced to what a request needs.
//
// Contract:
// - ParseUrl(input) parses an absolute URL; ParseUrl(input, &base) resolves a reference (a
//   redirect's Location) against a base, as `new URL(input, base)` does. Leading and trailing
//   spaces and control characters are trimmed; tabs and newlines are removed; `\` counts as `/`.
// - For http and https the host is parsed as WHATWG does, so what we check is what a browser
//   (and Node) would connect to: percent-decoding, lower-casing, IPv4 in every legacy form
//   (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, short 127.1, trailing dot), bracketed
//   IPv6. Hosts that are not ASCII fail (write internationalized names in their xn-- form).
//   The path is percent-encoded and dot segments removed; the fragment is dropped.
// - Any other scheme parses to a Url with only `scheme` set (the caller refuses it by name).
// - Failure: InvalidArgument whose message is the reason (e.g. "the port is not a number"); the
//   caller words the error the plugin sees.
// Thread-safe: pure functions. May call: common/, http/address.h. Called by: http/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/address.h"

namespace ps::http {

struct Url {
  std::string scheme;            // lower-case, without ':'
  bool has_credentials = false;  // user:password@ was given (fetch refuses it)
  // http/https only below.
  std::string host;  // serialized: lower-case name (trailing dot kept), dotted IPv4, [IPv6]
  std::optional<IpAddress> ip;       // set when the host is an IP address
  uint16_t port = 0;                 // effective port (80/443 when not given)
  bool default_port = true;          // no port, or the scheme's default
  std::string path = "/";            // percent-encoded, starts with '/'
  std::optional<std::string> query;  // percent-encoded, without '?'

  bool http() const { return scheme == "http" || scheme == "https"; }
  // The host without brackets and trailing dots: what allowlists and name blocks compare.
  std::string HostForMatching() const;
  // scheme://host[:port]/path[?query]
  std::string Href() const;
  // scheme://host:port (always with the port): equal strings mean the same origin.
  std::string Origin() const;
};

Result<Url> ParseUrl(std::string_view input, const Url* base = nullptr);

// A host as the URL parser parses it (special schemes): IPv4 forms, [IPv6], or a lower-case
// ASCII name. `ip` is set for addresses; the string is the serialization. Used for operator
// entries (--allow-private) and allowlist patterns, so they compare equal to URL hosts.
struct ParsedHost {
  std::string serialized;
  std::optional<IpAddress> ip;
};
Result<ParsedHost> ParseHost(std::string_view input);

}  // namespace ps::http
