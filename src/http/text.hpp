// Text the API reads from requests (docs/ARCHITECTURE.md, "Text the API stores"). What is stored
// must read back byte for byte on both databases, so what could not be is refused with a 400
// naming the field, header or query parameter it was in:
//   - U+0000 everywhere: PostgreSQL's text cannot hold it (libpq ends a value at it: the value
//     would be stored cut short). JSON strings are checked at any depth, keys too.
//   - invalid UTF-8 everywhere: PostgreSQL refuses it (JSON strings are UTF-8 once parsed; a body
//     that is not is named by the field its bad bytes are in).
//   - the other control characters (U+0001..U+001F, U+007F) in identifiers: accounts, codes,
//     external ids, idempotency keys, names, URLs, enumerations, provider options. Free text
//     (the descriptions) keeps them, and reads them back as sent.
// Headers and query parameters are identifiers: only the headers the API reads are checked
// (Authorization, Idempotency-Key; every header on a route whose handler may read any).
// Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "http/message.hpp"

namespace rtjobs::http {

enum class TextKind {
  kIdentifier,  // no control character at all
  kFreeText,    // control characters kept, but not U+0000
};

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);
// `s` with each byte that is not part of a well-formed sequence replaced by U+FFFD (for logs).
std::string to_valid_utf8(std::string_view s);
// U+0000..U+001F and U+007F.
constexpr bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

// kInvalidArgument naming `field` when `value` holds U+0000, is not valid UTF-8, or (identifiers)
// holds any control character.
Result<void> check_text(std::string_view field, std::string_view value, TextKind kind);

// The first string of a parsed JSON document (keys included, at any depth) that holds U+0000, as
// a kInvalidArgument naming its path: "source_account", "schedule.timezone", "event_types[1]",
// "provider_options.memo".
Result<void> check_json_text(const nlohmann::json& doc);

// The error for a body that did not parse as JSON: when a string holds invalid UTF-8 or an
// unescaped control character, it names that string's field ("source_account is not valid
// UTF-8"); otherwise it names "body".
Error unparsable_json_error(std::string_view body);

// The query parameters (names and values) and the headers the API reads: the first one that is
// not valid UTF-8 or holds a control character, as a kInvalidArgument naming it. `all_headers`:
// every header is read (the banks' webhooks: their adapters read the headers they sign).
std::optional<Error> check_request_text(const Request& request, bool all_headers);

// For a request head Beast refused (its error does not say where): the name of the first header
// whose value holds a control character, if any.
std::optional<std::string> header_with_control(std::string_view head);

}  // namespace rtjobs::http
