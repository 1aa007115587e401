// SandboxProvider: the in-process, deterministic simulated bank of SPEC section 5, for demos and
// first runs. No network, no state:
//   - amount % 100 == 51 (minor units end in 51) -> declined, HTTP 422, code "insufficient_funds"
//     (422 like the fake BaaS in tools/fake_baas, so both read the same in provider statuses);
//   - source account starting with "down_"        -> unavailable, HTTP 503, code "unavailable";
//   - anything else                                -> succeeded, HTTP 201, reference "sbx_" + 16
//     hex digits of a stable hash of the idempotency key, so the same key always gets the same
//     reference (the sandbox honours idempotency without keeping a ledger).
// The "down_" rule is checked first. Non-successes carry a response_body shaped like the HTTP
// protocol's: {"error":{"code":...,"message":...}}.
//
// execute() completes inline: `done` runs on the caller's thread before execute() returns.
// Thread-safe (immutable after construction).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "baas/provider.hpp"

namespace rtjobs {

class SandboxProvider final : public Provider {
 public:
  explicit SandboxProvider(std::string name,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

  std::string_view name() const override { return name_; }
  std::chrono::milliseconds timeout() const override { return timeout_; }
  void execute(TransferRequest request, std::function<void(TransferResult)> done) override;
  bool answers_inline() const override { return true; }

  // The answer execute() gives, without the callback.
  static TransferResult answer(const TransferRequest& request);

 private:
  std::string name_;
  std::chrono::milliseconds timeout_;
};

}  // namespace rtjobs
