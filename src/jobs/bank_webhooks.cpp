#include "jobs/bank_webhooks.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "core/log.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"

namespace rtjobs {
namespace {

template <class T>
void put(nlohmann::json& j, const char* key, const std::optional<T>& value) {
  if (value) j[key] = *value;
}

std::optional<std::string> opt_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// One delivery's events, each stored once: the batch of deliveries in one transaction.
Result<std::vector<std::vector<bool>>> store_deliveries(
    Store& store, std::span<const std::vector<BankEventRecord>> deliveries) {
  std::vector<BankEventRecord> all;
  for (const auto& d : deliveries) all.insert(all.end(), d.begin(), d.end());
  auto stored = store.accept_bank_events(all);
  if (!stored) return std::unexpected(std::move(stored.error()));
  std::vector<std::vector<bool>> out;
  out.reserve(deliveries.size());
  size_t at = 0;
  for (const auto& d : deliveries) {
    out.emplace_back(stored->begin() + static_cast<std::ptrdiff_t>(at),
                     stored->begin() + static_cast<std::ptrdiff_t>(at + d.size()));
    at += d.size();
  }
  return out;
}

}  // namespace

std::string transfer_state_json(const TransferState& s) {
  nlohmann::json j = {{"reference", s.reference},
                      {"rail", to_string(s.rail)},
                      {"settlement", to_string(s.settlement)},
                      {"bank_status", s.bank_status},
                      {"response_body", s.response_body}};
  put(j, "return_code", s.return_code);
  put(j, "code", s.code);
  put(j, "message", s.message);
  if (s.settled_at) j["settled_at"] = format_timestamp(*s.settled_at);
  put(j, "http_status", s.http_status);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<TransferState> parse_transfer_state(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  auto bad = [] { return fail(ErrorCode::kInternal, "a bank event's stored state is unreadable"); };
  if (!j.is_object()) return bad();
  TransferState s;
  auto reference = opt_string(j, "reference");
  auto rail = parse_rail(opt_string(j, "rail").value_or(""));
  auto settlement = parse_settlement_status(opt_string(j, "settlement").value_or(""));
  if (!reference || !rail || !settlement) return bad();
  s.reference = std::move(*reference);
  s.rail = *rail;
  s.settlement = *settlement;
  s.bank_status = opt_string(j, "bank_status").value_or("");
  s.response_body = opt_string(j, "response_body").value_or("");
  s.return_code = opt_string(j, "return_code");
  s.code = opt_string(j, "code");
  s.message = opt_string(j, "message");
  if (auto at = opt_string(j, "settled_at")) s.settled_at = parse_timestamp(*at);
  if (auto it = j.find("http_status"); it != j.end() && it->is_number_integer()) {
    s.http_status = it->get<int>();
  }
  return s;
}

BankWebhookIntake::BankWebhookIntake(Store& store, const ProviderRegistry& providers,
                                     const Clock& clock, int writers, std::function<void()> on_new)
    : store_(store),
      providers_(providers),
      clock_(clock),
      on_new_(std::move(on_new)),
      writer_(
          [this](std::span<const std::vector<BankEventRecord>> batch) {
            return store_deliveries(store_, batch);
          },
          writers, 500, "bank webhook events") {}

void BankWebhookIntake::accept(std::string_view provider, const WebhookDelivery& delivery,
                               std::function<void(Result<WebhookAccepted>)> done) {
  Provider* p = providers_.find(provider);
  if (!p) {
    return done(fail(ErrorCode::kNotFound, "no provider named '" + std::string(provider) + "'",
                     "provider"));
  }
  auto events = p->read_webhook(delivery);
  if (!events) {
    log::warn("bank webhook refused", {{"provider", provider},
                                       {"reason", to_string(events.error().code)},
                                       {"error", events.error().message}});
    return done(std::unexpected(std::move(events.error())));
  }
  const Timestamp now = clock_.now();
  std::vector<BankEventRecord> records;
  records.reserve(events->size());
  for (BankEvent& e : *events) {
    BankEventRecord r;
    r.id = new_uuid_v7(now);
    r.provider = std::string(provider);
    r.event_id = std::move(e.event_id);
    r.event_type = std::move(e.type);
    r.reference = std::move(e.reference);
    r.rail = e.rail;
    if (e.state) r.payload = transfer_state_json(*e.state);
    r.received_at = now;
    records.push_back(std::move(r));
  }
  const int count = static_cast<int>(records.size());
  if (count == 0) return done(WebhookAccepted{});
  writer_.write(std::move(records),
                [this, count, done = std::move(done)](Result<std::vector<bool>> stored) {
                  if (!stored) return done(std::unexpected(std::move(stored.error())));
                  WebhookAccepted accepted{count, 0};
                  for (bool fresh : *stored) accepted.duplicates += fresh ? 0 : 1;
                  if (accepted.duplicates < count && on_new_) on_new_();
                  done(accepted);
                });
}

}  // namespace rtjobs
