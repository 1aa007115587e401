// The one error model of rtjobs: expected failures (validation, not found, conflicts, I/O,
// an unavailable database) are values of type Error carried in Result<T>; exceptions are kept
// for bugs and start-up failures. Errors gain context as they travel up the stack:
//
//   if (!r) return std::unexpected(r.error().context("claiming job " + id));
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace rtjobs {

enum class ErrorCode {
  kInvalidArgument,  // bad input; `field` names the offending field or setting
  kNotFound,
  kConflict,            // state does not allow the operation (e.g. job not FAILED)
  kUnprocessable,       // e.g. idempotency key reused with another body
  kPreconditionFailed,  // a conditional change met another version (If-Match: HTTP 412)
  kUnavailable,         // a dependency (database, object store, bank) cannot be reached
  kUnauthenticated,     // a caller's credentials or signature did not verify (HTTP 401)
  kInternal,            // a bug or an invariant broken
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string field;   // the request field or configuration setting at fault, if any
  std::string reason;  // a machine-readable code for the API (e.g. "job_in_progress"), optional

  // Returns this error with "what: " prepended to its message.
  Error context(std::string_view what) && {
    message = std::string(what) + ": " + message;
    return std::move(*this);
  }
  Error context(std::string_view what) const& { return Error(*this).context(what); }
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message, std::string field = {}) {
  return std::unexpected(Error{code, std::move(message), std::move(field), {}});
}

inline std::unexpected<Error> invalid(std::string field, std::string message) {
  return std::unexpected(
      Error{ErrorCode::kInvalidArgument, std::move(message), std::move(field), {}});
}

std::string_view to_string(ErrorCode code);

}  // namespace rtjobs
