#include "core/money.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace rtjobs {
namespace {

TEST(CurrencyExponent, FollowsIso4217) {
  EXPECT_EQ(currency_exponent("USD"), 2);
  EXPECT_EQ(currency_exponent("EUR"), 2);
  EXPECT_EQ(currency_exponent("JPY"), 0);
  EXPECT_EQ(currency_exponent("KRW"), 0);
  EXPECT_EQ(currency_exponent("KWD"), 3);
  EXPECT_EQ(currency_exponent("BHD"), 3);
  EXPECT_EQ(currency_exponent("CLF"), 4);
}

TEST(DecimalAmount, IsExactForEveryExponent) {
  EXPECT_EQ(decimal_amount(1, 2), "0.01");
  EXPECT_EQ(decimal_amount(99, 2), "0.99");
  EXPECT_EQ(decimal_amount(100, 2), "1.00");
  EXPECT_EQ(decimal_amount(5000, 2), "50.00");
  EXPECT_EQ(decimal_amount(12345678901, 2), "123456789.01");
  EXPECT_EQ(decimal_amount(12345, 0), "12345");
  EXPECT_EQ(decimal_amount(5, 3), "0.005");
  EXPECT_EQ(decimal_amount(1234, 3), "1.234");
  EXPECT_EQ(decimal_amount(1, 4), "0.0001");
  EXPECT_EQ(decimal_amount(0, 2), "0.00");
  EXPECT_EQ(decimal_amount(-5, 3), "-0.005");
  EXPECT_EQ(decimal_amount(std::numeric_limits<int64_t>::max(), 2), "92233720368547758.07");
  EXPECT_EQ(decimal_amount(std::numeric_limits<int64_t>::min(), 2), "-92233720368547758.08");
}

}  // namespace
}  // namespace rtjobs
