// classify_http_status: SPEC section 2's reading of a BaaS HTTP status.
#include "baas/provider.hpp"

namespace rtjobs {

Outcome classify_http_status(int status) {
  if (status >= 200 && status <= 299) return Outcome::kSucceeded;
  // 408 (request timeout) and 429 (too many requests) say "not now", not "no": retry them.
  if (status >= 400 && status <= 499 && status != 408 && status != 429) return Outcome::kDeclined;
  // 5xx, 1xx, 3xx and anything out of range: the bank did not give a final answer.
  return Outcome::kUnavailable;
}

}  // namespace rtjobs
