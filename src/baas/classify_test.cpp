#include <gtest/gtest.h>

#include "baas/provider.hpp"

namespace rtjobs {
namespace {

TEST(ClassifyHttpStatus, FollowsSpecSection2) {
  struct Case {
    int status;
    Outcome outcome;
  };
  const Case cases[] = {
      {200, Outcome::kSucceeded},   {201, Outcome::kSucceeded},   {202, Outcome::kSucceeded},
      {204, Outcome::kSucceeded},   {299, Outcome::kSucceeded},   {400, Outcome::kDeclined},
      {401, Outcome::kDeclined},    {402, Outcome::kDeclined},    {403, Outcome::kDeclined},
      {404, Outcome::kDeclined},    {409, Outcome::kDeclined},    {422, Outcome::kDeclined},
      {499, Outcome::kDeclined},    {408, Outcome::kUnavailable}, {429, Outcome::kUnavailable},
      {500, Outcome::kUnavailable}, {502, Outcome::kUnavailable}, {503, Outcome::kUnavailable},
      {504, Outcome::kUnavailable}, {599, Outcome::kUnavailable}, {100, Outcome::kUnavailable},
      {101, Outcome::kUnavailable}, {199, Outcome::kUnavailable}, {300, Outcome::kUnavailable},
      {301, Outcome::kUnavailable}, {302, Outcome::kUnavailable}, {304, Outcome::kUnavailable},
      {399, Outcome::kUnavailable}, {0, Outcome::kUnavailable},   {-1, Outcome::kUnavailable},
      {600, Outcome::kUnavailable}, {999, Outcome::kUnavailable},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(classify_http_status(c.status), c.outcome) << "status " << c.status;
  }
}

}  // namespace
}  // namespace rtjobs
