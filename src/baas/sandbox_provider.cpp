#include "baas/sandbox_provider.hpp"

#include <cstdint>
#include <cstdio>
#include <utility>

#include <nlohmann/json.hpp>

namespace rtjobs {
namespace {

// FNV-1a, 64 bits: stable across runs, platforms and builds (std::hash is not).
uint64_t stable_hash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

TransferResult refusal(Outcome outcome, int status, std::string code, std::string message) {
  TransferResult r;
  r.outcome = outcome;
  r.http_status = status;
  nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  r.response_body = body.dump();
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

}  // namespace

SandboxProvider::SandboxProvider(std::string name, std::chrono::milliseconds timeout)
    : name_(std::move(name)), timeout_(timeout) {}

TransferResult SandboxProvider::answer(const TransferRequest& request) {
  if (request.source_account.starts_with("down_")) {
    return refusal(Outcome::kUnavailable, 503, "unavailable",
                   "sandbox: accounts starting with down_ are unavailable");
  }
  // C++ `%` keeps the sign; only positive amounts reach a bank, but -51 must not match.
  if (request.amount > 0 && request.amount % 100 == 51) {
    return refusal(Outcome::kDeclined, 422, "insufficient_funds",
                   "sandbox: amounts ending in 51 minor units are declined");
  }
  char id[32];
  std::snprintf(id, sizeof id, "sbx_%016llx",
                static_cast<unsigned long long>(stable_hash(request.idempotency_key)));
  TransferResult r;
  r.outcome = Outcome::kSucceeded;
  r.http_status = 201;
  r.reference = id;
  return r;
}

void SandboxProvider::execute(TransferRequest request, std::function<void(TransferResult)> done) {
  done(answer(request));
}

}  // namespace rtjobs
