// Expected failures as values: Status (ok or an error) and Result<T> (a value or an error).
//
// Every error carries a code a program can branch on and a message a person can act on: the
// message names the cause and, where there is one, the fix.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "common/check.h"

namespace conclave {

enum class ErrorCode : int {
  ok = 0,
  invalid_argument = 1,   // the caller sent something malformed or out of range
  not_found = 2,          // the thing asked for does not exist
  no_leader = 3,          // the Raft group has no known leader (electing, or no quorum)
  timed_out = 4,          // the deadline passed before an answer
  too_large = 5,          // over a named limit
  unavailable = 6,        // try again later (queue full, shutting down, not a server)
  storage = 7,            // the disk or SQLite failed
  malformed = 8,          // bytes that do not decode (bad frame, bad packet)
  internal = 9,
  not_leader = 10,        // asked a server that does not lead: ask the leader (agents retry)
  conflict = 11,          // a condition did not hold: the lock is held, a fencing token is
                          // stale, a compare-and-set found another revision
  permission_denied = 12, // the local user may not do this (agent/access_policy.h)
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}
  static Status ok_status() { return Status(); }

  bool ok() const { return ok_; }
  const Error& error() const {
    CONCLAVE_CHECK(!ok_, "error() called on an ok Status");
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(Error error) : value_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(value_); }
  const T& value() const& {
    CONCLAVE_CHECK(ok(), "value() called on an error Result");
    return std::get<T>(value_);
  }
  T& value() & {
    CONCLAVE_CHECK(ok(), "value() called on an error Result");
    return std::get<T>(value_);
  }
  T&& value() && {
    CONCLAVE_CHECK(ok(), "value() called on an error Result");
    return std::get<T>(std::move(value_));
  }
  const Error& error() const {
    CONCLAVE_CHECK(!ok(), "error() called on an ok Result");
    return std::get<Error>(value_);
  }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> value_;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::ok: return "ok";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::no_leader: return "no_leader";
    case ErrorCode::timed_out: return "timed_out";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::storage: return "storage";
    case ErrorCode::malformed: return "malformed";
    case ErrorCode::internal: return "internal";
    case ErrorCode::not_leader: return "not_leader";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::permission_denied: return "permission_denied";
  }
  return "unknown";
}

}  // namespace conclave
