// What every bank adapter shares when it reads a transfer after the call (SPEC section 8,
// settlement and returns): from a look-up by the bank's id or from a webhook carrying the whole
// object. The rules that hold for all banks:
//   - a 404 in the bank's own error shape: kNotFound (the bank has no such transfer);
//   - any other non-2xx, a 404 in another shape (a wrong base_url, a proxy), or a 2xx without
//     the transfer's id and status: kUnavailable (the follower asks again later);
//   - a status the adapter does not know: still pending, so the follower keeps asking and the
//     follow window, not a guess, ends it;
//   - a return's code is the Nacha code ("R01"), "R??" when the bank's reason has none known.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "baas/http_transport.hpp"
#include "baas/provider.hpp"
#include "core/error.hpp"

namespace rtjobs::bank {

inline constexpr std::string_view kUnknownReturnCode = "R??";

// A GET of `url` with `headers`.
HttpCall http_get(std::string url, std::vector<std::string> headers);

bool is_2xx(int status);

// The error of a look-up answered with a non-2xx: kNotFound when it is a 404 and `bank_shaped`
// (its body is the bank's own error shape), kUnavailable otherwise. `bank` names the bank.
Error fetch_failed(const HttpAnswer& answer, bool bank_shaped, std::string_view bank,
                   std::string_view reference);
// kUnavailable: a 2xx look-up answer without a readable transfer.
Error unreadable_transfer(std::string_view bank, std::string_view reference);

// Reads a bank's transfer object into `state`; nullopt when it has no id and status.
using StateReader =
    std::function<std::optional<TransferState>(const nlohmann::json& body, TransferState state)>;

// A look-up's answer by the rules above: `bank_shaped` tells the bank's error shape from
// another body, `read` reads a 2xx body (http_status and response_body already set). A transfer
// other than `reference` in a 2xx is kUnavailable, like an unreadable one.
Result<TransferState> read_look_up(const HttpAnswer& answer, Rail rail, std::string_view bank,
                                   std::string_view reference,
                                   const std::function<bool(const nlohmann::json&)>& bank_shaped,
                                   const StateReader& read);

// A TransferState read from a look-up's answer: http_status and response_body set.
TransferState fetched(const HttpAnswer& answer, Rail rail);
// A TransferState read from a webhook's object: response_body is the object's text (64 KiB at
// most), no http_status.
TransferState delivered(const nlohmann::json& object, Rail rail);

// Starts reading `object`: its "id" becomes state.reference and its "status" state.bank_status;
// false when either is missing or the id is empty.
bool read_id_and_status(const nlohmann::json& object, TransferState& state);

// "R01" when `code` is an R and two digits (either case); nullopt otherwise.
std::optional<std::string> nacha_code(std::string_view code);

// Marks `state` returned with `code` ("R??" when absent) and the bank's words.
void mark_returned(TransferState& state, std::optional<std::string> code, std::string message);
// Marks `state` canceled with the bank's reason, normalised as declines are.
void mark_canceled(TransferState& state, std::string_view reason);

}  // namespace rtjobs::bank
