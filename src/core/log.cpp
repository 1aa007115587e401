#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "core/clock.hpp"
#include "core/time_format.hpp"

namespace rtjobs::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_write_mutex;

std::string_view level_name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

}  // namespace

bool set_level(std::string_view level) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (level_name(l) == level) {
      g_level.store(static_cast<int>(l));
      return true;
    }
  }
  return false;
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0x0F]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(128);
  line += "{\"ts\":\"";
  line += format_timestamp(SystemClock().now());
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":\"";
  append_json_escaped(line, msg);
  line += '"';
  for (const Field& f : fields) {
    line += ",\"";
    append_json_escaped(line, f.key);
    line += "\":";
    switch (f.value.kind) {
      case Value::Kind::kString:
        line += '"';
        append_json_escaped(line, f.value.s);
        line += '"';
        break;
      case Value::Kind::kInt:
        line += std::to_string(f.value.i);
        break;
      case Value::Kind::kBool:
        line += f.value.i ? "true" : "false";
        break;
    }
  }
  line += "}\n";
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace rtjobs::log
