#include "core/log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtjobs::log {
namespace {

std::string escaped(std::string_view s) {
  std::string out = "x";  // appends, never replaces
  append_json_escaped(out, s);
  return out;
}

TEST(AppendJsonEscaped, EscapesAsJsonDumpDoes) {
  EXPECT_EQ(escaped("plain text"), "xplain text");
  EXPECT_EQ(escaped("a\"b\\c"), "xa\\\"b\\\\c");
  EXPECT_EQ(escaped("\b\f\n\r\t"), "x\\b\\f\\n\\r\\t");
  EXPECT_EQ(escaped(std::string("\x00\x01\x1f", 3)), "x\\u0000\\u0001\\u001f");
  EXPECT_EQ(escaped("caf\xc3\xa9 \x7f"), "xcaf\xc3\xa9 \x7f");  // UTF-8 and DEL as they are
  EXPECT_EQ(escaped(""), "x");
}

}  // namespace
}  // namespace rtjobs::log
