#include "backup/csv.hpp"

#include <gtest/gtest.h>

namespace rtjobs::csv {
namespace {

std::vector<Record> parse_in_chunks(std::string_view text, size_t chunk) {
  std::vector<Record> out;
  CsvParser parser([&](Record& r) -> Result<void> {
    out.push_back(r);
    return {};
  });
  for (size_t i = 0; i < text.size(); i += chunk) {
    EXPECT_TRUE(parser.feed(text.substr(i, chunk)));
  }
  EXPECT_TRUE(parser.finish());
  return out;
}

TEST(Csv, QuotesOnlyWhatNeedsQuoting) {
  std::string out;
  append_record(out, {"plain", std::nullopt, "", "a,b", "say \"hi\"", "line\r\nbreak", "é"});
  EXPECT_EQ(out, "plain,,\"\",\"a,b\",\"say \"\"hi\"\"\",\"line\r\nbreak\",é\r\n");
}

TEST(Csv, RoundTripsNullEmptyAndSpecialCharactersAtEveryChunkSize) {
  Record in{"x", std::nullopt, "", "a,b", "\"", "\r", "\n", "\r\n", "日本語 ünïcødé", ""};
  std::vector<std::optional<std::string_view>> views;
  for (auto& f : in) views.push_back(f ? std::optional<std::string_view>(*f) : std::nullopt);
  std::string text;
  append_record(text, views);
  append_record(text, views);
  for (size_t chunk : {1, 2, 3, 7, 1000}) {
    auto records = parse_in_chunks(text, chunk);
    ASSERT_EQ(records.size(), 2u) << chunk;
    EXPECT_EQ(records[0], in) << chunk;
    EXPECT_EQ(records[1], in) << chunk;
  }
}

TEST(Csv, AcceptsLfAndAMissingFinalLineEnd) {
  auto records = parse_in_chunks("a,b\nc,\"d\"", 4);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1], (Record{"c", "d"}));
}

TEST(Csv, RejectsMalformedInput) {
  CsvParser parser([](Record&) -> Result<void> { return {}; });
  EXPECT_FALSE(parser.feed("a\"b\r\n"));
  CsvParser open([](Record&) -> Result<void> { return {}; });
  ASSERT_TRUE(open.feed("\"abc"));
  EXPECT_FALSE(open.finish());
}

TEST(Csv, NamesTheLineEachRecordStartsOn) {
  std::vector<int64_t> lines;
  const CsvParser* self = nullptr;
  CsvParser parser([&](Record&) -> Result<void> {
    lines.push_back(self->record_line());
    return {};
  });
  self = &parser;
  // A quoted field spanning two lines: the next record starts two lines further down.
  std::string_view text = "h1,h2\r\na,\"x\r\ny\"\r\nb,c\nd,e";
  for (char c : text) ASSERT_TRUE(parser.feed(std::string_view(&c, 1)));
  ASSERT_TRUE(parser.finish());
  EXPECT_EQ(lines, (std::vector<int64_t>{1, 2, 4, 5}));
}

}  // namespace
}  // namespace rtjobs::csv
