// POST /v1/bank-webhooks/{provider} (SPEC section 8): the one API route without the bearer
// token; the bank's own signature (or Treasury Prime's Basic credentials) authenticates it,
// checked by BankWebhookIntake before anything is stored. Answered once the events are
// committed: 200 {"received": n, "duplicates": d}; 401 for a bad or stale signature, 404 for a
// provider not configured, 400 for a verified body of the wrong shape, 503 when the database
// could not take them (the bank delivers again).
#include <nlohmann/json.hpp>

#include "http/errors.hpp"
#include "http/routes.hpp"
#include "jobs/bank_webhooks.hpp"
#include "jobs/settlement_metrics.hpp"

namespace rtjobs::http {

void add_bank_webhook_routes(Router& router, const RouteContext& ctx) {
  if (!ctx.deps.bank_webhooks) return;
  router.add(
      "POST", "/v1/bank-webhooks/{provider}",
      [ctx](const Request& req, const Respond& respond) {
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
      RouteOptions{.public_route = true});
}

}  // namespace rtjobs::http
