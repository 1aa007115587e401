// What the bank adapters' unit tests share (test code only): hand-made bank answers and a
// transfer request with ordinary values.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "baas/http_transport.hpp"
#include "baas/provider.hpp"

namespace rtjobs::bank_test {

inline constexpr const char* kUrl = "https://bank.test";

inline HttpAnswer answer(int status, std::string body,
                         std::optional<std::string> retry_after = {}) {
  HttpAnswer a;
  a.status = status;
  a.body = std::move(body);
  a.retry_after = std::move(retry_after);
  return a;
}

inline TransferRequest request(Rail rail = Rail::kBook) {
  TransferRequest r;
  r.idempotency_key = "key-1";
  r.reference = "job-1";
  r.amount = 5000;
  r.currency = "USD";
  r.source_account = "src";
  r.destination_account = "dst";
  r.description = "rent";
  r.rail = rail;
  return r;
}

}  // namespace rtjobs::bank_test
