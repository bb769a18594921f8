// Status and Result: how errors cross module boundaries in plugin-sandbox.
//
// Contract: no exception leaves a module's public functions. A failure is a Status with a code
// (what kind of failure, which decides the HTTP status a caller sees) and a message (the exact
// text a plugin or operator reads). Result<T> is a value or a failed Status.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "common/error_code.h"

namespace ps {

enum class Code {
  kOk = 0,
  kInvalidArgument,   // bad input from a plugin or caller (message names what and where)
  kPermissionDenied,  // a capability or token check failed
  kUnauthenticated,   // missing or invalid credentials
  kNotFound,
  kConflict,     // unique constraint, concurrent change
  kTooLarge,     // a size cap was exceeded
  kUnavailable,  // try again later (write fence, restarting plugin, database down)
  kInternal,     // a bug or an unexpected failure of a dependency (SQL error text included)
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  // A failure with a caller-visible code; its kind follows from the code (common/error_code.h).
  Status(ErrorCode code, std::string message)
      : code_(KindOf(code)), message_(std::move(message)), error_code_(code) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // The caller-visible code that travels with the message (common/error_code.h); kNone for most
  // errors, whose code the host API derives from their kind.
  ErrorCode error_code() const { return error_code_; }
  Status& With(ErrorCode c) {
    error_code_ = c;
    return *this;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
  ErrorCode error_code_ = ErrorCode::kNone;
};

inline Status InvalidArgument(std::string m) {
  return Status(Code::kInvalidArgument, std::move(m));
}
inline Status PermissionDenied(std::string m) {
  return Status(Code::kPermissionDenied, std::move(m));
}
inline Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
inline Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ps

// Early return on failure. PS_TRY(expr) for Status; PS_ASSIGN(lhs, expr) for Result<T>.
#define PS_TRY(expr)           \
  do {                         \
    ::ps::Status _st = (expr); \
    if (!_st.ok()) return _st; \
  } while (0)

#define PS_CONCAT_INNER(a, b) a##b
#define PS_CONCAT(a, b) PS_CONCAT_INNER(a, b)
#define PS_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                   \
  if (!tmp.ok()) return tmp.status();  \
  lhs = std::move(tmp).value()
#define PS_ASSIGN(lhs, expr) PS_ASSIGN_IMPL(PS_CONCAT(_res_, __LINE__), lhs, expr)
