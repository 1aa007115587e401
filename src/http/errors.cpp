#include "http/errors.hpp"

#include <nlohmann/json.hpp>

#include "core/log.hpp"

namespace rtjobs::http {

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kUnprocessable:
      return 422;
    case ErrorCode::kPreconditionFailed:
      return 412;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::string error_body(std::string_view code, std::string_view message, std::string_view field) {
  nlohmann::json e = {{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  return nlohmann::json{{"error", std::move(e)}}.dump(-1, ' ', false,
                                                      nlohmann::json::error_handler_t::replace);
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field) {
  Response r;
  r.status = status;
  r.body = error_body(code, message, field);
  return r;
}

Response error_response(const Error& error, std::string_view request_id) {
  int status = http_status(error.code);
  std::string_view code = error.reason.empty() ? to_string(error.code) : error.reason;
  if (status == 500) {
    // Details of a bug stay in the log, tied to the request by its id.
    log::error("internal error", {{"request_id", request_id}, {"error", error.message}});
    return error_response(status, code, "internal error", {});
  }
  if (status == 503) {
    log::warn("dependency unavailable", {{"request_id", request_id}, {"error", error.message}});
  }
  return error_response(status, code, error.message, error.field);
}

}  // namespace rtjobs::http
