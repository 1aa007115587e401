#include "baas/transfer_state.hpp"

#include <cctype>
#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"

namespace rtjobs::bank {

HttpCall http_get(std::string url, std::vector<std::string> headers) {
  HttpCall call;
  call.method = "GET";
  call.url = std::move(url);
  call.headers = std::move(headers);
  return call;
}

bool is_2xx(int status) { return status >= 200 && status <= 299; }

Error fetch_failed(const HttpAnswer& answer, bool bank_shaped, std::string_view bank,
                   std::string_view reference) {
  const std::string what = std::string(bank) + " transfer " + std::string(reference);
  if (answer.status == 404 && bank_shaped) {
    return Error{ErrorCode::kNotFound, what + ": the bank has no such transfer (HTTP 404)", {}, {}};
  }
  return Error{ErrorCode::kUnavailable,
               what + ": the look-up answered HTTP " + std::to_string(answer.status) +
                   (bank_shaped ? "" : " without the bank's error body"),
               {},
               {}};
}

Error unreadable_transfer(std::string_view bank, std::string_view reference) {
  return Error{ErrorCode::kUnavailable,
               std::string(bank) + " transfer " + std::string(reference) +
                   ": the look-up's answer holds no transfer id and status",
               {},
               {}};
}

Result<TransferState> read_look_up(const HttpAnswer& answer, Rail rail, std::string_view bank,
                                   std::string_view reference,
                                   const std::function<bool(const nlohmann::json&)>& bank_shaped,
                                   const StateReader& read) {
  const nlohmann::json body = parse_json(answer.body);
  if (!is_2xx(answer.status)) {
    return std::unexpected(fetch_failed(answer, bank_shaped(body), bank, reference));
  }
  auto state = read(body, fetched(answer, rail));
  if (!state) return std::unexpected(unreadable_transfer(bank, reference));
  // An answer about another transfer (a cache or proxy in between, a fault at the bank) says
  // nothing of this one: read as this one's, its return or settlement would land on this job.
  if (state->reference != reference) {
    return fail(ErrorCode::kUnavailable, std::string(bank) + " transfer " + std::string(reference) +
                                             ": the look-up answered another transfer, " +
                                             state->reference);
  }
  return std::move(*state);
}

TransferState fetched(const HttpAnswer& answer, Rail rail) {
  TransferState state;
  state.rail = rail;
  state.http_status = answer.status;
  state.response_body = answer.body;
  return state;
}

TransferState delivered(const nlohmann::json& object, Rail rail) {
  TransferState state;
  state.rail = rail;
  state.response_body = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (state.response_body.size() > HttpAnswer::kMaxBody) {
    state.response_body.resize(HttpAnswer::kMaxBody);
  }
  return state;
}

bool read_id_and_status(const nlohmann::json& object, TransferState& state) {
  auto id = string_field(object, "id");
  auto status = string_field(object, "status");
  if (!id || id->empty() || !status) return false;
  state.reference = std::move(*id);
  state.bank_status = std::move(*status);
  return true;
}

std::optional<std::string> nacha_code(std::string_view code) {
  if (code.size() != 3 || (code[0] != 'R' && code[0] != 'r') ||
      !std::isdigit(static_cast<unsigned char>(code[1])) ||
      !std::isdigit(static_cast<unsigned char>(code[2]))) {
    return std::nullopt;
  }
  // Not "R" + std::string(...): GCC 12 warns falsely there at -O3 (-Wrestrict, GCC bug 105329).
  std::string nacha = "R";
  nacha.append(code.substr(1));
  return nacha;
}

void mark_returned(TransferState& state, std::optional<std::string> code, std::string message) {
  state.settlement = SettlementStatus::kReturned;
  state.return_code = code ? std::move(*code) : std::string(kUnknownReturnCode);
  if (!message.empty()) state.message = std::move(message);
}

void mark_canceled(TransferState& state, std::string_view reason) {
  state.settlement = SettlementStatus::kCanceled;
  state.code = normalise_reason(reason);
  state.message = std::string(reason);
}

}  // namespace rtjobs::bank
