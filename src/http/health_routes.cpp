// GET /healthz, /readyz, /metrics and /openapi.json.
#include <nlohmann/json.hpp>
#include <utility>

#include "backup/backup_service.hpp"
#include "core/build_info.hpp"
#include "http/errors.hpp"
#include "http/routes.hpp"
#include "jobs/processor.hpp"
#include "jobs/settlement_metrics.hpp"
#include "maintenance/webhook_metrics.hpp"
#include "store/store.hpp"

namespace rtjobs::http {
namespace {

// Counting stops here, so a scrape stays cheap whatever the backlog.
constexpr int64_t kDueCountCap = 100000;

// The backlog gauge, or nothing when the database does not answer (the other metrics still do).
std::string due_jobs_gauge(const RouteContext& ctx) {
  auto due = ctx.deps.store.count_due_jobs(ctx.deps.clock.now(), kDueCountCap);
  if (!due) return {};
  return "# HELP rtjobs_jobs_due Jobs due and waiting for a claim, by kind (counted up to " +
         std::to_string(kDueCountCap) + ").\n# TYPE rtjobs_jobs_due gauge\n" +
         "rtjobs_jobs_due{kind=\"pending\"} " + std::to_string(due->pending) + "\n" +
         "rtjobs_jobs_due{kind=\"retry\"} " + std::to_string(due->retry) + "\n";
}

// The bank webhook events stored and not yet applied (the follower's backlog).
std::string bank_events_gauge(const RouteContext& ctx) {
  auto pending = ctx.deps.store.count_pending_bank_events(kDueCountCap);
  if (!pending) return {};
  return "# HELP rtjobs_bank_events_pending Bank webhook events stored and not yet applied "
         "(counted up to " +
         std::to_string(kDueCountCap) + ").\n# TYPE rtjobs_bank_events_pending gauge\n" +
         "rtjobs_bank_events_pending " + std::to_string(*pending) + "\n";
}

// When the last backup saved rows (GET /v1/backups' last_backup_at), for the backup-overdue
// alert; nothing when backups are off or the database does not answer.
std::string last_backup_gauge(const RouteContext& ctx) {
  if (!ctx.deps.backups) return {};
  auto history = ctx.deps.backups->history(1);
  if (!history) return {};
  std::string out =
      "# HELP rtjobs_backup_last_success_timestamp_seconds When the last backup saved its rows "
      "(Unix time; 0: never).\n# TYPE rtjobs_backup_last_success_timestamp_seconds gauge\n"
      "rtjobs_backup_last_success_timestamp_seconds ";
  const auto at = history->last_backup_at.value_or(Timestamp{});
  out += std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count());
  return out + "\n";
}

}  // namespace

void add_health_routes(Router& router, const RouteContext& ctx) {
  router.add(
      "GET", "/healthz",
      [](const Request&, const Respond& respond) {
        respond(json_response(
            200, {{"status", "ok"}, {"version", build_version()}, {"commit", build_commit()}}));
      },
      {.public_route = true});

  router.add(
      "GET", "/readyz",
      [ctx](const Request& req, const Respond& respond) {
        run_blocking(ctx, req, respond, [ctx] {
          auto ping = ctx.deps.store.ping();
          if (!ping) {
            return json_response(
                503, {{"status", "unavailable"},
                      {"error",
                       {{"code", "unavailable"}, {"message", "the database does not answer"}}}});
          }
          // Still ready: a paused provider's jobs wait, every other provider's run.
          nlohmann::json paused = nlohmann::json::array();
          if (const FlowControl* flows = ctx.deps.processor.flows()) {
            for (const FlowSnapshot& f : flows->snapshot(ctx.deps.clock.now())) {
              if (f.state == CircuitState::kClosed) continue;
              paused.push_back(
                  {{"provider", f.provider}, {"state", to_string(f.state)}, {"reason", f.reason}});
            }
          }
          return json_response(200, {{"status", "ready"}, {"paused_providers", paused}});
        });
      },
      {.public_route = true});

  router.add("GET", "/metrics", [ctx](const Request& req, const Respond& respond) {
    run_blocking(ctx, req, respond, [ctx] {
      Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = ctx.metrics.render() + ctx.deps.processor.metrics().render() + due_jobs_gauge(ctx) +
               last_backup_gauge(ctx);
      if (const FlowControl* flows = ctx.deps.processor.flows()) {
        r.body += flows->render(ctx.deps.clock.now());
      }
      if (ctx.deps.settlement_metrics) {
        r.body += ctx.deps.settlement_metrics->render() + bank_events_gauge(ctx);
      }
      if (ctx.deps.webhook_metrics) {
        // Without the store's answer, the counter alone (as the other gauges do).
        auto backlog = ctx.deps.store.event_backlog(kDueCountCap);
        r.body += ctx.deps.webhook_metrics->render(
            backlog ? std::optional<EventBacklog>(*backlog) : std::nullopt, ctx.deps.clock.now());
      }
      return r;
    });
  });

  router.add("GET", "/openapi.json", [](const Request&, const Respond& respond) {
    Response r;
    r.body = std::string(openapi_document());
    respond(std::move(r));
  });
}

}  // namespace rtjobs::http
