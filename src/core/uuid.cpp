#include "core/uuid.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <stdexcept>

namespace rtjobs {
namespace {

// Monotonic state: the last millisecond used and a 12-bit counter within it (rand_a).
struct V7State {
  std::mutex mutex;
  int64_t last_ms = -1;
  uint16_t counter = 0;
};

V7State& state() {
  static V7State s;
  return s;
}

}  // namespace

std::string new_uuid_v7(Timestamp now) {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  int64_t ms = now.time_since_epoch().count();
  uint16_t counter;
  {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    if (ms <= s.last_ms) {
      ms = s.last_ms;
      if (++s.counter > 0x0FFF) {  // counter exhausted: borrow the next millisecond
        ++ms;
        s.counter = 0;
      }
    } else {
      s.counter = static_cast<uint16_t>(b[6] & 0x03);  // small random start keeps room
    }
    s.last_ms = ms;
    counter = s.counter;
  }
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  b[6] = static_cast<unsigned char>(0x70 | ((counter >> 8) & 0x0F));
  b[7] = static_cast<unsigned char>(counter & 0xFF);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return out;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace rtjobs
