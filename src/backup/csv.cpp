#include "backup/csv.hpp"

namespace rtjobs::csv {

namespace {

bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {  // one pass; find_first_of would call memchr per character
    if (c == ',' || c == '"' || c == '\r' || c == '\n') return true;
  }
  return false;
}

}  // namespace

void append_field(std::string& out, std::optional<std::string_view> value) {
  if (!value) return;  // NULL: nothing between the commas
  if (!needs_quotes(*value)) {
    out.append(*value);
    return;
  }
  out.push_back('"');
  for (char c : *value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_record(std::string& out, const std::vector<std::optional<std::string_view>>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_field(out, fields[i]);
  }
  out.append(kLineEnd);
}

Error CsvParser::malformed(std::string_view what) const {
  return Error{ErrorCode::kInvalidArgument,
               "malformed CSV at line " + std::to_string(line_) + ": " + std::string(what),
               {},
               {}};
}

Result<void> CsvParser::end_field() {
  if (field_quoted_ || !field_.empty()) {
    record_.emplace_back(std::move(field_));
  } else {
    record_.emplace_back(std::nullopt);
  }
  field_.clear();
  field_quoted_ = false;
  return {};
}

Result<void> CsvParser::end_record() {
  (void)end_field();
  ++records_;
  Result<void> r = on_record_(record_);
  record_.clear();
  return r;
}

Result<void> CsvParser::feed(std::string_view chunk) {
  for (char c : chunk) {
    switch (state_) {
      case State::kAfterCr:
        state_ = State::kFieldStart;
        if (c == '\n') continue;  // CRLF: the record already ended at the CR
        [[fallthrough]];
      case State::kFieldStart:
        if (c == '"') {
          field_quoted_ = true;
          state_ = State::kQuoted;
          continue;
        }
        state_ = State::kUnquoted;
        [[fallthrough]];
      case State::kUnquoted:
        if (c == ',') {
          (void)end_field();
          state_ = State::kFieldStart;
        } else if (c == '\r' || c == '\n') {
          if (auto r = end_record(); !r) return r;
          record_line_ = ++line_;
          state_ = c == '\r' ? State::kAfterCr : State::kFieldStart;
        } else if (c == '"') {
          return std::unexpected(malformed("quote inside an unquoted field"));
        } else {
          field_.push_back(c);
        }
        break;
      case State::kQuoted:
        if (c == '"') {
          state_ = State::kQuoteInQuoted;
        } else {
          if (c == '\n') ++line_;
          field_.push_back(c);
        }
        break;
      case State::kQuoteInQuoted:
        if (c == '"') {
          field_.push_back('"');
          state_ = State::kQuoted;
        } else if (c == ',') {
          (void)end_field();
          state_ = State::kFieldStart;
        } else if (c == '\r' || c == '\n') {
          if (auto r = end_record(); !r) return r;
          record_line_ = ++line_;
          state_ = c == '\r' ? State::kAfterCr : State::kFieldStart;
        } else {
          return std::unexpected(malformed("text after a closing quote"));
        }
        break;
    }
  }
  return {};
}

Result<void> CsvParser::finish() {
  switch (state_) {
    case State::kQuoted:
      return std::unexpected(malformed("unterminated quoted field"));
    case State::kUnquoted:
    case State::kQuoteInQuoted:
      return end_record();
    case State::kFieldStart:
      // A record ended by its line end leaves nothing; "a,"<EOF> still holds a last field.
      if (!record_.empty()) return end_record();
      return {};
    case State::kAfterCr:
      return {};
  }
  return {};
}

}  // namespace rtjobs::csv
