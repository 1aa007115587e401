#include "cli/exit_codes.hpp"

#include <nlohmann/json.hpp>

namespace rtjobs::cli {

ExitCode exit_code_for_status(int http_status) {
  if (http_status >= 200 && http_status < 300) return kOk;
  switch (http_status) {
    case 400:
    case 413:
    case 422:
      return kUsage;
    case 404:
    case 405:
      return kNotFound;
    case 409:
      return kConflict;
    case 401:
    case 403:
      return kAuth;
    default:
      return kUnavailable;
  }
}

std::string describe_http_error(int http_status, std::string_view body) {
  std::string line = "the server answered HTTP " + std::to_string(http_status);
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json* error = nullptr;
  if (doc.is_object()) {
    auto it = doc.find("error");
    if (it != doc.end() && it->is_object()) error = &*it;
  }
  if (error != nullptr) {
    auto text = [error](const char* key) {
      auto it = error->find(key);
      return it != error->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (std::string code = text("code"); !code.empty()) line += " " + code;
    if (std::string message = text("message"); !message.empty()) line += ": " + message;
    if (std::string field = text("field"); !field.empty()) line += " (" + field + ")";
  } else if (!body.empty()) {
    constexpr size_t kShown = 120;
    std::string shown(body.substr(0, kShown));
    for (char& c : shown) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    line += ": " + shown + (body.size() > kShown ? "..." : "");
  }
  if (http_status == 401) line += " (check RT_API_TOKEN or --token)";
  if (http_status == 405) line += " (this server does not have the route: an older version?)";
  return line;
}

}  // namespace rtjobs::cli
