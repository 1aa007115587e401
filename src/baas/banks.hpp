// The real banks' protocols (SPEC section 8), one file each, from the banks' public
// documentation (docs/BANKS.md lists every behaviour with its source):
//   treasury_prime.cpp  HTTP Basic key id + secret, X-Idempotency-Key, decimal-string amounts
//   increase.cpp        bearer token, Idempotency-Key, cents, look-up by key before a re-attempt
//   column.cpp          HTTP Basic with a blank user, Idempotency-Key, cents and currency_code
//   unit.cpp            bearer token, JSON:API, attributes.idempotencyKey, look-up by tag
// Each is a BankApi run by BankProvider; `base_url` is checked and has no trailing '/'.
#pragma once

#include <memory>
#include <string>

#include "baas/bank_provider.hpp"

namespace rtjobs {

std::unique_ptr<BankApi> make_treasury_prime_api(std::string base_url, const std::string& key_id,
                                                 const std::string& secret);
std::unique_ptr<BankApi> make_increase_api(std::string base_url, const std::string& token);
std::unique_ptr<BankApi> make_column_api(std::string base_url, const std::string& api_key);
std::unique_ptr<BankApi> make_unit_api(std::string base_url, const std::string& token);

}  // namespace rtjobs
