#include "core/money.hpp"

#include <algorithm>
#include <array>

namespace rtjobs {
namespace {

struct Exponent {
  std::string_view code;
  int exponent;
};

// ISO 4217 (list one, 2024) codes whose minor unit is not 2, sorted by code.
constexpr std::array<Exponent, 26> kExponents{{
    {"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"IQD", 3},
    {"ISK", 0}, {"JOD", 3}, {"JPY", 0}, {"KMF", 0}, {"KRW", 0}, {"KWD", 3}, {"LYD", 3},
    {"OMR", 3}, {"PYG", 0}, {"RWF", 0}, {"TND", 3}, {"UGX", 0}, {"UYI", 0}, {"UYW", 4},
    {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0}, {"XPF", 0},
}};

}  // namespace

int currency_exponent(std::string_view currency) {
  auto it = std::find_if(kExponents.begin(), kExponents.end(),
                         [&](const Exponent& e) { return e.code == currency; });
  return it == kExponents.end() ? 2 : it->exponent;
}

std::string decimal_amount(int64_t minor, int exponent) {
  const bool negative = minor < 0;
  // Through unsigned arithmetic so INT64_MIN has a magnitude too.
  uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  std::string digits = std::to_string(magnitude);
  if (exponent > 0) {
    const auto width = static_cast<size_t>(exponent) + 1;
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    digits.insert(digits.size() - static_cast<size_t>(exponent), 1, '.');
  }
  return negative ? "-" + digits : digits;
}

}  // namespace rtjobs
