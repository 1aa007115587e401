// Money as text for banks that take a decimal amount ("50.00"): exact integer arithmetic on
// minor units, never a floating-point number (SPEC section 1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rtjobs {

// ISO 4217 minor-unit exponent of a currency code: 0 for JPY, 3 for KWD, 4 for CLF, 2 for every
// other code (the common case, and ISO's own for most currencies).
int currency_exponent(std::string_view currency);

// `minor` units as a decimal string with exactly `exponent` decimals: (5000, 2) -> "50.00",
// (1, 2) -> "0.01", (12345, 0) -> "12345", (-5, 3) -> "-0.005". exponent is 0..9.
std::string decimal_amount(int64_t minor, int exponent);

}  // namespace rtjobs
