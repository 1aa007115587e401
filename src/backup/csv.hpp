// The backup CSV format (SPEC section 6): RFC 4180 with CRLF line ends, UTF-8 without BOM, a
// header row of column names. A field is quoted when it holds a comma, a quote, CR or LF, or
// when it is the empty string; quotes inside are doubled. SQL NULL is an empty unquoted field,
// so NULL and "" survive a round trip as themselves.
//
// CsvParser is incremental: feed() it chunks of any size (a field or a record may straddle two
// chunks) and it calls back once per complete record, so restore reads objects of any size in
// constant memory. It accepts CRLF and bare LF line ends.
//
// Stateless functions are thread-safe; a CsvParser is used by one thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace rtjobs::csv {

inline constexpr std::string_view kLineEnd = "\r\n";

// Appends one field (nullopt = NULL) to `out`, quoted when needed.
void append_field(std::string& out, std::optional<std::string_view> value);

// Appends a whole record: fields separated by commas, then CRLF.
void append_record(std::string& out, const std::vector<std::optional<std::string_view>>& fields);

using Record = std::vector<std::optional<std::string>>;

class CsvParser {
 public:
  using OnRecord = std::function<Result<void>(Record&)>;

  explicit CsvParser(OnRecord on_record) : on_record_(std::move(on_record)) {}

  // Parses `chunk`, calling on_record for each record it completes. A malformed input (a quote
  // inside an unquoted field, text after a closing quote) is kInvalidArgument naming the line.
  Result<void> feed(std::string_view chunk);
  // Ends the input: completes a last record without a line end; an open quote is an error.
  Result<void> finish();

  int64_t records() const { return records_; }
  // The line (1-based, counting every line end, those inside quoted fields too) on which the
  // record being handed to on_record began: what an error about that record names.
  int64_t record_line() const { return record_line_; }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted, kAfterCr };

  Result<void> end_field();
  Result<void> end_record();
  Error malformed(std::string_view what) const;

  OnRecord on_record_;
  State state_ = State::kFieldStart;
  std::string field_;
  bool field_quoted_ = false;
  Record record_;
  int64_t line_ = 1;
  int64_t record_line_ = 1;
  int64_t records_ = 0;
};

}  // namespace rtjobs::csv
