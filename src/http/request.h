// The `http/fetch` parameters as the isolate marshals them (bridge.md §8.1), unmarshalled and
// validated (§8.2).
//
// Contract: ParseFetchParams checks, in this order and with the spec's exact texts: `url`
// (`Missing required string parameter: url`), `init` is an object, `init.method` a string,
// `init.redirect` one of follow/error/manual, `init.headers` an array of [name, value] string
// pairs, `init.bodyType` one of string/base64/formdata, then the body for its type. Then what
// Node's Request constructor would refuse, in our words: a method that is not an HTTP token or
// is CONNECT/TRACE/TRACK, header names that are not tokens, header values with CR, LF or NUL, a
// base64 body that does not decode, and a body on GET or HEAD (Node's text). All failures are
// InvalidArgument.
// Normalization as Fetch does it: DELETE/GET/HEAD/OPTIONS/POST/PUT are upper-cased (other
// methods keep their case); header values are trimmed of leading/trailing HTTP whitespace;
// duplicate headers are kept, in order. Headers the HTTP client owns (host, content-length,
// transfer-encoding, connection, keep-alive, upgrade, expect, te, trailer, proxy-connection) are
// dropped.
// Thread-safe: pure function. May call: common/. Called by: http/fetcher.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace ps::http {

enum class RedirectMode { kFollow, kManual, kError };

struct FormPart {
  std::string name;
  std::string value;  // text, or the decoded bytes of a blob part
  bool is_blob = false;
  std::optional<std::string> filename;  // blob parts: absent means "blob"
  std::optional<std::string> type;      // blob parts: absent means application/octet-stream
};

struct FetchInit {
  std::string url;
  std::string method = "GET";
  RedirectMode redirect = RedirectMode::kFollow;
  std::vector<std::pair<std::string, std::string>> headers;  // names as given, in order
  enum class BodyKind { kNone, kText, kBytes, kForm };
  BodyKind body_kind = BodyKind::kNone;
  std::string body;            // kText, kBytes
  std::vector<FormPart> form;  // kForm
};

Result<FetchInit> ParseFetchParams(const json::object& params);

// ASCII lower-case (header names).
std::string LowerAscii(std::string_view s);

}  // namespace ps::http
