#include "common/error_code.h"

#include <array>
#include <ostream>

#include "common/status.h"

namespace ps {
namespace {

using S = ErrorSurface;

// Order follows the enum; the static_assert below and Info() rely on it.
constexpr std::array<ErrorCodeInfo, 20> kCodes = {{
    {ErrorCode::kBadRequest, "bad_request", 400, S::kHostApi,
     "the request was malformed (a malformed bundle also lists `problems`)"},
    {ErrorCode::kUnauthorized, "unauthorized", 401, S::kHostApi, "no or a wrong admin token"},
    {ErrorCode::kForbidden, "forbidden", 403, S::kHostApi, "the caller may not do this"},
    {ErrorCode::kNotFound, "not_found", 404, S::kHostApi,
     "no such plugin, route, endpoint, collection or media"},
    {ErrorCode::kMethodNotAllowed, "method_not_allowed", 405, S::kHostApi,
     "the path exists, the method does not"},
    {ErrorCode::kConflict, "conflict", 409, S::kHostApi,
     "a duplicate, or a delete vetoed by `content:beforeDelete`"},
    {ErrorCode::kPayloadTooLarge, "payload_too_large", 413, S::kHostApi,
     "the request body is over its cap"},
    {ErrorCode::kPluginError, "plugin_error", 500, S::kHostApi, "the plugin threw (its message)"},
    {ErrorCode::kPluginCrashed, "plugin_crashed", 500, S::kHostApi,
     "the plugin's process died or failed to start"},
    {ErrorCode::kCpuLimitExceeded, "cpu_limit_exceeded", 500, S::kHostApi,
     "over `cpu-ms`; the process was killed"},
    {ErrorCode::kMemoryLimitExceeded, "memory_limit_exceeded", 500, S::kHostApi,
     "over `memory-mb`; the process was killed"},
    {ErrorCode::kSubrequestLimitExceeded, "subrequest_limit_exceeded", 500, S::kHostApi,
     "more `ctx.http.fetch` calls than `subrequests`"},
    {ErrorCode::kBridgeCallLimitExceeded, "bridge_call_limit_exceeded", 500, S::kHostApi,
     "more than 10,000 `ctx` calls in one invocation"},
    {ErrorCode::kInternalError, "internal_error", 500, S::kHostApi, "the host's own failure"},
    {ErrorCode::kPluginUnavailable, "plugin_unavailable", 503, S::kHostApi,
     "disabled, restarting or quarantined"},
    {ErrorCode::kUnavailable, "unavailable", 503, S::kHostApi,
     "EmDash's content-write fence, or the host shutting down"},
    {ErrorCode::kWallTimeExceeded, "wall_time_exceeded", 504, S::kHostApi,
     "over `wall-ms` or the hook's timeout"},
    {ErrorCode::kInvocationEnded, "invocation_ended", 403, S::kBridge,
     "a `ctx` call outside an invocation of its plugin"},
    {ErrorCode::kMediaUsageActivationInProgress, "MEDIA_USAGE_ACTIVATION_IN_PROGRESS", 503,
     S::kBridge, "a content write while EmDash activates media usage tracking"},
    {ErrorCode::kMediaUsageActivationCheckFailed, "MEDIA_USAGE_ACTIVATION_CHECK_FAILED", 503,
     S::kBridge, "the write fence could not be read"},
}};

constexpr bool InOrder() {
  for (size_t i = 0; i < kCodes.size(); ++i) {
    if (static_cast<size_t>(kCodes[i].code) != i + 1) return false;
  }
  return static_cast<size_t>(ErrorCode::kMediaUsageActivationCheckFailed) == kCodes.size();
}
static_assert(InOrder(), "kCodes must list every ErrorCode once, in declaration order");

}  // namespace

std::span<const ErrorCodeInfo> AllErrorCodes() { return kCodes; }

const ErrorCodeInfo& Info(ErrorCode c) {
  if (c == ErrorCode::kNone) c = ErrorCode::kInternalError;
  return kCodes[static_cast<size_t>(c) - 1];
}

std::string_view ErrorCodeName(ErrorCode c) {
  return c == ErrorCode::kNone ? std::string_view() : Info(c).name;
}

int HttpStatusOf(ErrorCode c) { return Info(c).http_status; }

Code KindOf(ErrorCode c) {
  switch (c) {
    case ErrorCode::kBadRequest:
    case ErrorCode::kMethodNotAllowed:
      return Code::kInvalidArgument;
    case ErrorCode::kUnauthorized:
      return Code::kUnauthenticated;
    case ErrorCode::kForbidden:
    case ErrorCode::kInvocationEnded:
      return Code::kPermissionDenied;
    case ErrorCode::kNotFound:
      return Code::kNotFound;
    case ErrorCode::kConflict:
      return Code::kConflict;
    case ErrorCode::kPayloadTooLarge:
      return Code::kTooLarge;
    case ErrorCode::kPluginUnavailable:
    case ErrorCode::kUnavailable:
    case ErrorCode::kMediaUsageActivationInProgress:
    case ErrorCode::kMediaUsageActivationCheckFailed:
      return Code::kUnavailable;
    default:
      return Code::kInternal;
  }
}

ErrorCode GeneralCodeFor(Code kind) {
  switch (kind) {
    case Code::kInvalidArgument:
      return ErrorCode::kBadRequest;
    case Code::kPermissionDenied:
      return ErrorCode::kForbidden;
    case Code::kUnauthenticated:
      return ErrorCode::kUnauthorized;
    case Code::kNotFound:
      return ErrorCode::kNotFound;
    case Code::kConflict:
      return ErrorCode::kConflict;
    case Code::kTooLarge:
      return ErrorCode::kPayloadTooLarge;
    case Code::kUnavailable:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternalError;
  }
}

std::optional<ErrorCode> ParseErrorCode(std::string_view name) {
  for (const auto& i : kCodes) {
    if (i.name == name) return i.code;
  }
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& os, ErrorCode c) {
  return os << (c == ErrorCode::kNone ? std::string_view("(none)") : ErrorCodeName(c));
}

}  // namespace ps
