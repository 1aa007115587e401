// The API's one error shape: {"error": {"code", "message", "field"}} with a fitting status.
// An Error's `reason` becomes the code when set (e.g. "job_in_progress"); otherwise the code is
// the ErrorCode's name. Internal errors are logged and answered without their details.
// Stateless; thread-safe.
#pragma once

#include <string_view>

#include "core/error.hpp"
#include "http/message.hpp"

namespace rtjobs::http {

// kInvalidArgument 400, kNotFound 404, kConflict 409, kUnprocessable 422, kUnavailable 503,
// kInternal 500.
int http_status(ErrorCode code);

// The JSON body {"error": {...}} (field omitted when empty).
std::string error_body(std::string_view code, std::string_view message, std::string_view field);

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field = {});
Response error_response(const Error& error, std::string_view request_id = {});

}  // namespace rtjobs::http
