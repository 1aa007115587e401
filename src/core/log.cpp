#include "core/log.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <mutex>
#include <thread>

#include "core/clock.hpp"
#include "core/thread_name.hpp"
#include "core/time_format.hpp"

namespace rtjobs::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

// Lines are appended to a buffer and written by one thread, a batch at a time, so a busy server
// makes one write(2) per batch rather than one per line. The writer flushes at least every
// 20 ms and at exit; warnings and errors are written through at once.
class LineWriter {
 public:
  LineWriter()
      : thread_([this] {
          name_this_thread("rt-log");
          run();
        }) {}
  ~LineWriter() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void append(std::string_view line, bool urgent) {
    std::unique_lock lock(mutex_);
    buffer_ += line;
    if (urgent || buffer_.size() >= kFlushBytes) {
      std::string out;
      out.swap(buffer_);
      std::lock_guard write_lock(write_mutex_);
      lock.unlock();
      std::fwrite(out.data(), 1, out.size(), stderr);
    }
  }

 private:
  static constexpr size_t kFlushBytes = 64 * 1024;

  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stopping_; });
      if (!buffer_.empty()) {
        std::string out;
        out.swap(buffer_);
        {
          // Locks are taken in one order, mutex_ then write_mutex_, as append() does: the
          // write lock is let go before mutex_ is taken again.
          std::lock_guard write_lock(write_mutex_);
          lock.unlock();
          std::fwrite(out.data(), 1, out.size(), stderr);
        }
        lock.lock();
      }
      if (stopping_ && buffer_.empty()) return;
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::string buffer_;      // guarded by mutex_
  bool stopping_ = false;   // guarded by mutex_
  std::mutex write_mutex_;  // keeps batches in order on stderr
  std::thread thread_;
};

LineWriter& writer() {
  static LineWriter w;
  return w;
}

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

// Appends the current time as format_timestamp() writes it. The text up to the second is kept
// per thread, so a thread logging many lines a second formats only the milliseconds.
void append_now(std::string& line) {
  thread_local int64_t cached_second = std::numeric_limits<int64_t>::min();
  thread_local std::string cached;  // "2026-11-28T00:00:00."
  Timestamp now = SystemClock().now();
  int64_t ms = now.time_since_epoch().count();
  int64_t second = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  if (second != cached_second) {
    std::string full = format_timestamp(now);
    cached = full.substr(0, full.size() - 4);  // without "mmmZ"
    cached_second = second;
  }
  auto milli = static_cast<int>(ms - second * 1000);
  line += cached;
  line += static_cast<char>('0' + milli / 100);
  line += static_cast<char>('0' + milli / 10 % 10);
  line += static_cast<char>('0' + milli % 10);
  line += 'Z';
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
  size_t plain = 0;  // start of the run of bytes copied as they are
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
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
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0x0F];
    }
  }
  out.append(s, plain, s.size() - plain);
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  // Built in a buffer of the thread's own, so a line costs no allocation once it has grown.
  thread_local std::string line;
  line.clear();
  line += "{\"ts\":\"";
  append_now(line);
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
      case Value::Kind::kInt: {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f.value.i);
        line.append(buf, end);
        break;
      }
      case Value::Kind::kBool:
        line += f.value.i ? "true" : "false";
        break;
    }
  }
  line += "}\n";
  writer().append(line, level >= Level::kWarn);
  if (line.capacity() > 64 * 1024) line = std::string();  // one huge line: give it back
}

}  // namespace rtjobs::log
