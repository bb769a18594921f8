// Every error code a caller can see, declared once: its text, its HTTP status, the Status code it
// implies and what it means.
//
// Contract: no string literal of a code appears anywhere else in src/. A failure that carries a
// code is `Status(ErrorCode::k…, message)` (or `.With(ErrorCode)` on a Status whose kind is
// already chosen); the host API, the bridge's envelope, metrics and `plugin-sandbox run` read the
// text and status from this table. `docs/operating.md` ("Errors") lists the same rows, and a unit
// test keeps the two equal.
//
// Two surfaces share the table. Host-API codes are what `/v1/…` and plugin routes answer with.
// Bridge codes are what a plugin's `ctx` call fails with (bridge.md): the host API reports a
// bridge code by its kind (`unavailable`, `forbidden`), never by its own text.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <span>
#include <string_view>

namespace ps {

enum class Code;

enum class ErrorCode : uint8_t {
  kNone = 0,  // no code: the host API derives one from the Status's kind
  // Host API
  kBadRequest,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kMethodNotAllowed,
  kConflict,
  kPayloadTooLarge,
  kPluginError,
  kPluginCrashed,
  kCpuLimitExceeded,
  kMemoryLimitExceeded,
  kSubrequestLimitExceeded,
  kBridgeCallLimitExceeded,
  kInternalError,
  kPluginUnavailable,
  kUnavailable,
  kWallTimeExceeded,
  // Bridge only
  kInvocationEnded,
  kMediaUsageActivationInProgress,
  kMediaUsageActivationCheckFailed,
};

enum class ErrorSurface : uint8_t { kHostApi, kBridge };

struct ErrorCodeInfo {
  ErrorCode code;
  std::string_view name;  // the text on the wire
  int http_status;
  ErrorSurface surface;
  std::string_view meaning;  // one line, for docs and --help
};

// Every code but kNone, in declaration order.
std::span<const ErrorCodeInfo> AllErrorCodes();

const ErrorCodeInfo& Info(ErrorCode c);       // kNone: internal_error's row
std::string_view ErrorCodeName(ErrorCode c);  // "" for kNone
int HttpStatusOf(ErrorCode c);
// The Status kind a code implies (kUnavailable for plugin_unavailable, …).
Code KindOf(ErrorCode c);
// The host-API code for a Status of this kind without its own code (kInvalidArgument:
// bad_request, …).
ErrorCode GeneralCodeFor(Code kind);
// A code read from a plugin process's answer or a wire message; nullopt for unknown text.
std::optional<ErrorCode> ParseErrorCode(std::string_view name);

std::ostream& operator<<(std::ostream& os, ErrorCode c);  // its name, for logs and tests

}  // namespace ps
