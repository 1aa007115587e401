#include "http/text.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

namespace rtjobs::http {
namespace {

using nlohmann::json;

// The length of the well-formed UTF-8 sequence at s[i], or 0 (RFC 3629, table 3-7 of Unicode).
size_t sequence_at(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // no overlong forms
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

enum class Flaw { kNone, kNul, kControl, kNotUtf8 };

Flaw flaw_of(std::string_view s, TextKind kind) {
  Flaw found = Flaw::kNone;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return Flaw::kNul;
    if (is_control(c) && kind == TextKind::kIdentifier && found == Flaw::kNone) {
      found = Flaw::kControl;
    }
    size_t n = sequence_at(s, i);
    if (n == 0) {
      if (found == Flaw::kNone) found = Flaw::kNotUtf8;
      ++i;
    } else {
      i += n;
    }
  }
  return found;
}

std::string flaw_message(std::string_view what, Flaw flaw) {
  switch (flaw) {
    case Flaw::kNul:
      return std::string(what) + " must not contain the NUL character (U+0000)";
    case Flaw::kControl:
      return std::string(what) + " must not contain control characters (U+0000 to U+001F, U+007F)";
    case Flaw::kNotUtf8:
      return std::string(what) + " is not valid UTF-8";
    case Flaw::kNone:
      break;
  }
  return std::string(what);
}

std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// The path of the first string of `v` (keys included) for which `bad` holds.
template <class Pred>
std::optional<std::string> find_string(const json& v, const std::string& path, const Pred& bad) {
  if (v.is_string()) {
    if (bad(v.get_ref<const std::string&>())) return path;
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string p = child(path, it.key());
      if (bad(it.key())) return p;
      if (auto found = find_string(it.value(), p, bad)) return found;
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (auto found = find_string(v[i], path + "[" + std::to_string(i) + "]", bad)) {
        return found;
      }
    }
  }
  return std::nullopt;
}

// U+FFFF, a noncharacter: what stands in for a bad byte when finding which string held it.
constexpr std::string_view kMarker = "\xEF\xBF\xBF";

// The headers the API reads, as their errors name them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kReadHeaders = {{
    {"authorization", "Authorization"},
    {"idempotency-key", "Idempotency-Key"},
}};

}  // namespace

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = sequence_at(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = sequence_at(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

Result<void> check_text(std::string_view field, std::string_view value, TextKind kind) {
  Flaw flaw = flaw_of(value, kind);
  if (flaw == Flaw::kNone) return {};
  return invalid(std::string(field), flaw_message(field, flaw));
}

Result<void> check_json_text(const json& doc) {
  auto has_nul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  if (auto path = find_string(doc, "", has_nul)) {
    std::string field = path->empty() ? "body" : *path;
    return invalid(field, flaw_message(field, Flaw::kNul));
  }
  return {};
}

Error unparsable_json_error(std::string_view body) {
  Error generic{ErrorCode::kInvalidArgument, "the request body is not valid JSON", "body", {}};
  // A copy with each bad byte as U+FFFF: invalid UTF-8 anywhere, control characters inside
  // strings (JSON allows them between tokens). If the copy parses, the strings holding the
  // marker are where the bad bytes were.
  std::string copy;
  copy.reserve(body.size() + 16);
  bool in_string = false, escaped = false, any = false;
  Flaw first = Flaw::kNone;
  for (size_t i = 0; i < body.size();) {
    auto c = static_cast<unsigned char>(body[i]);
    size_t n = sequence_at(body, i);
    if (n == 0 || (in_string && is_control(c) && c != 0x7F)) {
      if (first == Flaw::kNone) first = n == 0 ? Flaw::kNotUtf8 : Flaw::kControl;
      copy += kMarker;
      any = true;
      escaped = false;
      ++i;
      continue;
    }
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    }
    copy.append(body, i, n);
    i += n;
  }
  if (!any) return generic;
  json doc = json::parse(copy, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return generic;
  auto marked = [](const std::string& s) { return s.find(kMarker) != std::string::npos; };
  auto path = find_string(doc, "", marked);
  if (!path || path->empty()) return generic;
  std::string field = to_valid_utf8(*path);
  // The path's own marker (a bad key) reads as U+FFFF: U+FFFD is the usual stand-in.
  for (size_t at = field.find(kMarker); at != std::string::npos; at = field.find(kMarker, at)) {
    field.replace(at, kMarker.size(), "\xEF\xBF\xBD");
  }
  std::string message =
      first == Flaw::kNotUtf8
          ? field + " is not valid UTF-8"
          : field + " holds a control character that JSON requires escaped (\\u0000 to \\u001f)";
  return Error{ErrorCode::kInvalidArgument, std::move(message), field, {}};
}

std::optional<Error> check_request_text(const Request& request, bool all_headers) {
  auto refuse = [](std::string field, std::string message) {
    return Error{ErrorCode::kInvalidArgument, std::move(message), std::move(field), {}};
  };
  for (const auto& [key, value] : request.query) {
    Flaw name_flaw = flaw_of(key, TextKind::kIdentifier);
    if (name_flaw != Flaw::kNone) {
      std::string name = to_valid_utf8(key);
      return refuse(name, flaw_message("query parameter name " + name, name_flaw));
    }
    Flaw flaw = flaw_of(value, TextKind::kIdentifier);
    if (flaw != Flaw::kNone) return refuse(key, flaw_message("query parameter " + key, flaw));
  }
  if (all_headers) {
    for (const auto& [name, value] : request.headers) {
      Flaw flaw = flaw_of(value, TextKind::kIdentifier);
      if (flaw != Flaw::kNone) return refuse(name, flaw_message("the header " + name, flaw));
    }
    return std::nullopt;
  }
  for (const auto& [name, shown] : kReadHeaders) {
    auto value = request.header(name);
    if (!value) continue;
    Flaw flaw = flaw_of(*value, TextKind::kIdentifier);
    if (flaw != Flaw::kNone) {
      return refuse(std::string(shown), flaw_message("the header " + std::string(shown), flaw));
    }
  }
  return std::nullopt;
}

std::optional<std::string> header_with_control(std::string_view head) {
  // Beast has consumed what it parsed: `head` starts at the request line or at a header line.
  for (size_t start = 0; start < head.size();) {
    size_t end = std::min(head.find('\n', start), head.size());
    std::string_view line = head.substr(start, end - start);
    start = end + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) return std::nullopt;  // the end of the head
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view name = line.substr(0, colon);
    bool token = true;
    for (char n : name) token = token && n > ' ' && n <= '~';
    if (!token) continue;  // the request line ("GET /a:b HTTP/1.1")
    for (char c : line.substr(colon + 1)) {
      auto u = static_cast<unsigned char>(c);
      if (is_control(u) && u != '\t') return std::string(name);
    }
  }
  return std::nullopt;
}

}  // namespace rtjobs::http
