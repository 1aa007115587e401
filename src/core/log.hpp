// Structured logging: one JSON object per line on stderr (written in batches by a log thread,
// at least every 20 ms; warnings and errors at once), e.g.
//   {"ts":"2026-11-28T00:00:00.000Z","level":"info","msg":"job processed","job_id":"..."}
// Call sites name an event and attach fields; request handlers pass their request id as the
// "request_id" field. Secrets (tokens, credentials) are never passed as fields. Thread-safe.
//
//   log::info("job finished", {{"job_id", job.id}, {"retries", job.retries}});
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace rtjobs::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Value {
  enum class Kind { kString, kInt, kBool } kind;
  std::string_view s;
  int64_t i = 0;

  Value(std::string_view v) : kind(Kind::kString), s(v) {}
  Value(const std::string& v) : kind(Kind::kString), s(v) {}
  Value(const char* v) : kind(Kind::kString), s(v) {}
  Value(bool v) : kind(Kind::kBool), i(v) {}
  Value(int v) : kind(Kind::kInt), i(v) {}
  Value(long v) : kind(Kind::kInt), i(v) {}
  Value(long long v) : kind(Kind::kInt), i(v) {}
  Value(unsigned v) : kind(Kind::kInt), i(v) {}
  Value(unsigned long v) : kind(Kind::kInt), i(static_cast<int64_t>(v)) {}
};

struct Field {
  std::string_view key;
  Value value;
};

// Sets the lowest level written; "debug", "info", "warn" or "error". Unknown names return false.
bool set_level(std::string_view level);
bool enabled(Level level);

void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  if (enabled(Level::kDebug)) write(Level::kDebug, msg, f);
}
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::kInfo, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::kWarn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::kError, msg, f);
}

// Appends `s` to `out` as the body of a JSON string (no surrounding quotes), escaped as
// nlohmann::json's dump() does; bytes from 0x80 up are copied as they are.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace rtjobs::log
