#include "baas/bank_answer.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include <nlohmann/json.hpp>

namespace rtjobs::bank {
namespace {

TransferResult answered(Outcome outcome, const HttpAnswer& answer) {
  TransferResult r;
  r.outcome = outcome;
  r.http_status = answer.status;
  r.response_body = answer.body;
  if (answer.retry_after) {
    r.retry_after = parse_retry_after(*answer.retry_after, std::chrono::system_clock::now());
  }
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// `word` standing alone in `text`, between non-alphanumerics: "nsf" in "nsf_return", not in
// "transfer".
bool contains_word(std::string_view text, std::string_view word) {
  const auto alnum = [&](size_t i) { return std::isalnum(static_cast<unsigned char>(text[i])); };
  for (size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
    const size_t end = at + word.size();
    if ((at == 0 || !alnum(at - 1)) && (end == text.size() || !alnum(end))) return true;
  }
  return false;
}

}  // namespace

TransferResult no_answer(const HttpAnswer& answer) {
  TransferResult r;
  r.outcome = Outcome::kUnavailable;
  r.message = answer.error;
  r.outcome_unknown = answer.maybe_sent;
  switch (answer.failure) {
    case HttpAnswer::Failure::kTimeout:
      r.code = "timeout";
      break;
    case HttpAnswer::Failure::kShutdown:
      r.code = "shutdown";
      break;
    case HttpAnswer::Failure::kInternal:
      r.code = "internal";
      break;
    default:
      r.code = "connection_failed";
      break;
  }
  return r;
}

TransferResult succeeded(const HttpAnswer& answer, std::string reference, std::string bank_status) {
  TransferResult r = answered(Outcome::kSucceeded, answer);
  r.reference = std::move(reference);
  if (!bank_status.empty()) r.bank_status = std::move(bank_status);
  return r;
}

TransferResult declined(const HttpAnswer& answer, std::string code, std::string message) {
  TransferResult r = answered(Outcome::kDeclined, answer);
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

TransferResult unavailable(const HttpAnswer& answer, std::string code, std::string message) {
  TransferResult r = answered(Outcome::kUnavailable, answer);
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

TransferResult declined_transfer(const HttpAnswer& answer, std::string id, std::string status,
                                 std::string code, std::string message) {
  TransferResult r = declined(answer, std::move(code), std::move(message));
  r.reference = std::move(id);
  r.bank_status = std::move(status);
  return r;
}

TransferResult unreadable(const HttpAnswer& answer, std::string_view what) {
  TransferResult r =
      unavailable(answer, "unreadable_answer",
                  "the bank answered HTTP " + std::to_string(answer.status) + " without " +
                      std::string(what) + "; the next attempt replays it under the same key");
  r.outcome_unknown = true;
  return r;
}

bool is_key_conflict(std::string_view reason) { return contains(lower(reason), "idempotenc"); }

bool never_declined(int status) {
  if (status < 400 || status > 499) return true;
  return status == 401 || status == 403 || status == 408 || status == 409 || status == 429;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (at <= now) return std::chrono::seconds(0);
  return std::chrono::ceil<std::chrono::seconds>(at - now);
}

std::string normalise_reason(std::string_view reason) {
  const std::string text = lower(reason);
  if (contains(text, "insufficient") || contains_word(text, "nsf") || text == "r01") {
    return "insufficient_funds";
  }
  if (contains(text, "closed") || text == "r02") return "account_closed";
  if (contains(text, "frozen")) return "account_frozen";
  if (contains(text, "not found") || contains(text, "not_found") || contains(text, "notfound") ||
      contains(text, "no account") || contains(text, "no_account") || text == "r03") {
    return "account_not_found";
  }
  if (contains(text, "limit")) return "limit_exceeded";
  // snake_case of the bank's own word: "SuspectedFraud", "suspected fraud" -> "suspected_fraud".
  std::string out;
  for (size_t i = 0; i < reason.size(); ++i) {
    const auto c = static_cast<unsigned char>(reason[i]);
    if (std::isupper(c) && i > 0 && std::islower(static_cast<unsigned char>(reason[i - 1]))) {
      out += '_';
    }
    if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  if (out.size() > 64) out.resize(64);
  return out.empty() ? "declined" : out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string basic_auth_header(std::string_view user, std::string_view password) {
  const std::string plain = std::string(user) + ":" + std::string(password);
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  encoded.resize(static_cast<size_t>(n));
  return "Authorization: Basic " + encoded;
}

HttpCall json_post(std::string url, const nlohmann::json& body, std::vector<std::string> headers) {
  HttpCall call;
  call.url = std::move(url);
  call.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  call.headers = std::move(headers);
  return call;
}

std::optional<nlohmann::json> only_listed(const HttpAnswer& answer) {
  if (answer.status < 200 || answer.status > 299) return std::nullopt;
  nlohmann::json json = parse_json(answer.body);
  if (!json.is_object() || !json.contains("data") || !json["data"].is_array() ||
      json["data"].size() != 1) {
    return std::nullopt;
  }
  return std::move(json["data"][0]);
}

bool listed_none(const HttpAnswer& answer) {
  if (answer.status < 200 || answer.status > 299) return false;
  const nlohmann::json json = parse_json(answer.body);
  return json.is_object() && json.contains("data") && json["data"].is_array() &&
         json["data"].empty();
}

TransferResult not_at_bank(const HttpAnswer& answer, std::string_view key) {
  TransferResult r = unavailable(answer, "not_at_bank",
                                 "the bank has no transfer under key " + std::string(key) +
                                     ": the earlier attempt was not executed");
  r.not_at_bank = true;
  return r;
}

nlohmann::json parse_json(std::string_view body) {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::optional<std::string> string_field(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Result<nlohmann::json> parse_options(std::string_view text, std::span<const OptionField> fields,
                                     std::string_view what) {
  nlohmann::json options = text.empty() ? nlohmann::json::object() : parse_json(text);
  if (!options.is_object()) return invalid("provider_options", "must be a JSON object");
  for (const auto& [key, value] : options.items()) {
    auto field = std::find_if(fields.begin(), fields.end(),
                              [&](const OptionField& f) { return f.name == key; });
    const std::string name = "provider_options." + key;
    if (field == fields.end()) {
      std::string known;
      for (const auto& f : fields) known += (known.empty() ? "" : ", ") + std::string(f.name);
      return invalid(name, "unknown option for " + std::string(what) +
                               (known.empty() ? " (it takes none)" : " (known: " + known + ")"));
    }
    if (field->kind == OptionField::Kind::kBool) {
      if (!value.is_boolean()) return invalid(name, "must be true or false");
      continue;
    }
    if (!value.is_string()) return invalid(name, "must be a string");
    const auto& s = value.get_ref<const std::string&>();
    const size_t limit = field->max_length == 0 ? 1024 : field->max_length;
    if (s.empty() || s.size() > limit) {
      return invalid(name, "must be 1 to " + std::to_string(limit) + " characters");
    }
    if (!field->allowed.empty() &&
        std::find(field->allowed.begin(), field->allowed.end(), s) == field->allowed.end()) {
      std::string allowed;
      for (auto a : field->allowed) allowed += (allowed.empty() ? "" : ", ") + std::string(a);
      return invalid(name, "must be one of " + allowed);
    }
  }
  for (const auto& f : fields) {
    if (f.required && !options.contains(f.name)) {
      return invalid("provider_options." + std::string(f.name),
                     "is required for " + std::string(what));
    }
  }
  return options;
}

Result<void> check_options(std::string_view text, std::span<const OptionField> fields,
                           std::string_view what) {
  auto parsed = parse_options(text, fields, what);
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  return {};
}

Result<void> check_key(std::string_view key, size_t max_length) {
  if (key.empty() || key.size() > max_length || !is_header_safe(key)) {
    return invalid("idempotency_key", "must be 1 to " + std::to_string(max_length) +
                                          " printable ASCII characters for this bank");
  }
  return {};
}

}  // namespace rtjobs::bank
