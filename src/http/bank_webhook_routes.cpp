// POST /v1/bank-webhooks/{provider} (SPEC section 8): the one API route without the bearer
// token; the bank's own signature (or Treasury Prime's Basic credentials) authenticates it,
// checked by BankWebhookIntake before anything is stored. Answered once the events are
// committed: 200 {"received": n, "duplicates": d}; 401 for a bad or stale signature, 404 for a
// provider not configured, 400 for a verified body of the wrong shape, 503 when the database
// could not take them (the bank delivers again).
#include <nlohmann/json.hpp>

#include "http/errors.hpp"
#include "http/routes.hpp"
#include "http/text.hpp"
#include "jobs/bank_webhooks.hpp"
#include "jobs/settlement_metrics.hpp"

namespace rtjobs::http {
namespace {

// A body that is JSON (every bank's is) with no string holding U+0000; one that does not parse
// is left to the adapter unless its bad bytes are in a string.
std::optional<Error> check_body_text(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    Error e = unparsable_json_error(body);
    if (e.field != "body") return e;
    return std::nullopt;
  }
  if (auto ok = check_json_text(doc); !ok) return ok.error();
  return std::nullopt;
}

}  // namespace

void add_bank_webhook_routes(Router& router, const RouteContext& ctx) {
  if (!ctx.deps.bank_webhooks) return;
  router.add(
      "POST", "/v1/bank-webhooks/{provider}",
      [ctx](const Request& req, const Respond& respond) {
        // The events' ids, types and references are stored: a string with U+0000, or a body
        // whose strings are not UTF-8, is refused naming the field (http/text.hpp).
        if (auto bad = check_body_text(req.body)) return respond(error_response(*bad));
        WebhookDelivery delivery{req.headers, req.body, ctx.deps.clock.now()};
        const std::string provider = req.params.at("provider");
        ctx.deps.bank_webhooks->accept(
            provider, delivery,
            [ctx, provider, respond, rid = req.request_id](Result<WebhookAccepted> accepted) {
              // A provider not configured is not counted: its name comes from the caller, and
              // a label per made-up name would grow /metrics without bound.
              const bool configured = accepted || accepted.error().code != ErrorCode::kNotFound;
              if (ctx.deps.settlement_metrics && configured) {
                std::string_view result = "accepted";
                if (!accepted) {
                  switch (accepted.error().code) {
                    case ErrorCode::kUnauthenticated:
                      result = "unauthenticated";
                      break;
                    case ErrorCode::kInvalidArgument:
                      result = "invalid";
                      break;
                    default:
                      result = "error";
                  }
                  ctx.deps.settlement_metrics->webhook(provider, result);
                } else {
                  auto fresh = static_cast<uint64_t>(accepted->events - accepted->duplicates);
                  if (fresh > 0) ctx.deps.settlement_metrics->webhook(provider, "accepted", fresh);
                  if (accepted->duplicates > 0) {
                    ctx.deps.settlement_metrics->webhook(
                        provider, "duplicate", static_cast<uint64_t>(accepted->duplicates));
                  }
                }
              }
              if (!accepted) {
                // The refusal says which check failed, never the expected signature.
                return respond(error_response(accepted.error(), rid));
              }
              respond(json_response(
                  200, {{"received", accepted->events}, {"duplicates", accepted->duplicates}}));
            });
      },
      // The adapters read the headers they verify, and store the event id one of them carries.
      RouteOptions{.public_route = true, .all_headers = true});
}

}  // namespace rtjobs::http
