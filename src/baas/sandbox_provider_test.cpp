#include "baas/sandbox_provider.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <thread>

namespace rtjobs {
namespace {

TransferRequest request(std::string key, int64_t amount, std::string source = "acc_a") {
  TransferRequest r;
  r.idempotency_key = std::move(key);
  r.reference = "job-1";
  r.amount = amount;
  r.currency = "USD";
  r.source_account = std::move(source);
  r.destination_account = "acc_b";
  r.description = "rent";
  return r;
}

TransferResult run(SandboxProvider& sandbox, TransferRequest r) {
  std::optional<TransferResult> out;
  int calls = 0;
  const auto caller = std::this_thread::get_id();
  sandbox.execute(std::move(r), [&](TransferResult result) {
    ++calls;
    EXPECT_EQ(std::this_thread::get_id(), caller);  // completes inline
    out = std::move(result);
  });
  EXPECT_EQ(calls, 1);
  return out.value_or(TransferResult{});
}

TEST(SandboxProvider, SucceedsWithAStableReferencePerIdempotencyKey) {
  SandboxProvider sandbox("sandbox");
  EXPECT_EQ(sandbox.name(), "sandbox");
  const TransferResult a = run(sandbox, request("key-1", 5000));
  EXPECT_EQ(a.outcome, Outcome::kSucceeded);
  EXPECT_EQ(a.http_status, 201);
  ASSERT_TRUE(a.reference);
  EXPECT_TRUE(a.reference->starts_with("sbx_")) << *a.reference;
  EXPECT_EQ(a.reference->size(), 4u + 16u);
  EXPECT_FALSE(a.code);
  EXPECT_EQ(run(sandbox, request("key-1", 5000)).reference, a.reference);
  EXPECT_NE(run(sandbox, request("key-2", 5000)).reference, a.reference);
  // Stable across runs and builds: a fixed FNV-1a of the key.
  SandboxProvider other("other");
  EXPECT_EQ(run(other, request("", 1)).reference, "sbx_cbf29ce484222325");
  EXPECT_EQ(run(other, request("key-1", 5000)).reference, a.reference);
}

TEST(SandboxProvider, DeclinesAmountsEndingIn51) {
  SandboxProvider sandbox("sandbox");
  for (int64_t amount : {51, 151, 5051, 100051}) {
    const TransferResult r = run(sandbox, request("k", amount));
    EXPECT_EQ(r.outcome, Outcome::kDeclined) << amount;
    EXPECT_EQ(r.http_status, 422);
    EXPECT_EQ(r.code, "insufficient_funds");
    ASSERT_TRUE(r.response_body);
    EXPECT_NE(r.response_body->find("\"insufficient_funds\""), std::string::npos);
    EXPECT_FALSE(r.reference);
  }
  for (int64_t amount : {5, 50, 52, 510, 5150, 1}) {
    EXPECT_EQ(run(sandbox, request("k", amount)).outcome, Outcome::kSucceeded) << amount;
  }
}

TEST(SandboxProvider, SourceAccountsStartingWithDownAreUnavailable) {
  SandboxProvider sandbox("sandbox");
  const TransferResult r = run(sandbox, request("k", 100, "down_acc"));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_EQ(r.http_status, 503);
  EXPECT_EQ(r.code, "unavailable");
  ASSERT_TRUE(r.response_body);
  EXPECT_EQ(*r.response_body,
            R"({"error":{"code":"unavailable","message":"sandbox: accounts starting with down_ )"
            R"(are unavailable"}})");
  // "down_" wins over the amount rule; only the prefix counts.
  EXPECT_EQ(run(sandbox, request("k", 151, "down_acc")).outcome, Outcome::kUnavailable);
  EXPECT_EQ(run(sandbox, request("k", 100, "acc_down_")).outcome, Outcome::kSucceeded);
  EXPECT_EQ(run(sandbox, request("k", 100, "down")).outcome, Outcome::kSucceeded);
}

}  // namespace
}  // namespace rtjobs
