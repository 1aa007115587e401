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

std::string to_text(const std::array<unsigned char, 16>& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++pos;  // the '-' already there
    out[pos++] = kHex[b[i] >> 4];
    out[pos++] = kHex[b[i] & 0x0F];
  }
  return out;
}

// xoshiro256** (Blackman and Vigna): fast, 2^256 - 1 period; each thread has its own state.
class RequestIdRandom {
 public:
  RequestIdRandom() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s_), sizeof s_) != 1) {
      throw std::runtime_error("RAND_bytes failed");
    }
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the one state that never moves
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

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
  return to_text(b);
}

std::string new_request_id(Timestamp now) {
  thread_local RequestIdRandom random;
  std::array<unsigned char, 16> b{};
  uint64_t hi = random.next();
  uint64_t lo = random.next();
  auto ms = static_cast<uint64_t>(now.time_since_epoch().count());
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  for (int i = 6; i < 8; ++i) b[i] = static_cast<unsigned char>(hi >> (8 * (i - 6)));
  for (int i = 8; i < 16; ++i) b[i] = static_cast<unsigned char>(lo >> (8 * (i - 8)));
  b[6] = static_cast<unsigned char>(0x70 | (b[6] & 0x0F));
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  return to_text(b);
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
