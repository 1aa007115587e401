// GET /v1/overview: what the operator console's first page shows, in one call: the due
// backlog, the bank calls in flight, the outcomes of the last 24 hours by hour, each provider's
// flow state (as /readyz knows it), the last backup and the webhook events' backlog. Counts are
// capped as in /metrics, so the page stays cheap whatever the backlog.
#include <array>
#include <chrono>
#include <nlohmann/json.hpp>

#include "backup/backup_service.hpp"
#include "core/time_format.hpp"
#include "http/errors.hpp"
#include "http/routes.hpp"
#include "jobs/processor.hpp"
#include "store/store.hpp"

namespace rtjobs::http {
namespace {

using nlohmann::json;

constexpr int64_t kCountCap = 100000;
constexpr int kHours = 24;

// The outcome columns of the chart, in its order.
constexpr std::array<const char*, 6> kOutcomes = {"succeeded", "declined", "returned",
                                                  "failed",    "skipped",  "cancelled"};

const char* outcome_of(const Store::OutcomeCount& c) {
  if (c.result == JobResult::kReturned) return "returned";
  switch (c.status) {
    case JobStatus::kFinished:
      return c.result == JobResult::kDeclined ? "declined" : "succeeded";
    case JobStatus::kFailed:
      return "failed";
    case JobStatus::kSkipped:
      return "skipped";
    default:
      return "cancelled";
  }
}

// 24 hourly buckets ending with the current hour, each with every outcome (0 when none).
Result<json> outcomes(const RouteContext& ctx, Timestamp now) {
  using std::chrono::hours;
  const Timestamp first = std::chrono::floor<hours>(now) - hours(kHours - 1);
  auto counts = ctx.deps.store.count_outcomes(first);
  if (!counts) return std::unexpected(counts.error());
  json buckets = json::array();
  for (int i = 0; i < kHours; ++i) {
    json b = {{"hour", format_timestamp(first + hours(i))}};
    for (const char* o : kOutcomes) b[o] = 0;
    buckets.push_back(std::move(b));
  }
  for (const auto& c : *counts) {
    auto index = std::chrono::floor<hours>(c.hour - first).count();
    if (index < 0 || index >= kHours) continue;
    auto& cell = buckets[static_cast<size_t>(index)][outcome_of(c)];
    cell = cell.get<int64_t>() + c.count;
  }
  return json{{"since", format_timestamp(first)}, {"hours", std::move(buckets)}};
}

json providers(const RouteContext& ctx, Timestamp now) {
  json out = json::array();
  if (const FlowControl* flows = ctx.deps.processor.flows()) {
    for (const FlowSnapshot& f : flows->snapshot(now)) {
      out.push_back({{"provider", f.provider},
                     {"state", to_string(f.state)},
                     {"reason", f.reason.empty() ? json(nullptr) : json(f.reason)},
                     {"limited", f.rate_limited > 0 || f.deferred_until.has_value()},
                     {"in_flight", f.in_flight}});
    }
  }
  return out;
}

Result<json> last_backup(const RouteContext& ctx) {
  if (!ctx.deps.backups) return json(nullptr);
  auto history = ctx.deps.backups->history(1);
  if (!history) return std::unexpected(history.error());
  json last = nullptr;
  if (!history->backups.empty()) {
    const auto& b = history->backups.front();
    last = {{"id", b.id},
            {"backup_at", format_timestamp(b.backup_at)},
            {"job_rows", b.job_rows},
            {"bytes", b.bytes}};
  }
  return last;
}

Response overview(const RouteContext& ctx, const std::string& request_id) {
  const Timestamp now = ctx.deps.clock.now();
  auto due = ctx.deps.store.count_due_jobs(now, kCountCap);
  if (!due) return error_response(due.error(), request_id);
  auto in_flight = ctx.deps.store.count_in_flight(kCountCap);
  if (!in_flight) return error_response(in_flight.error(), request_id);
  auto chart = outcomes(ctx, now);
  if (!chart) return error_response(chart.error(), request_id);
  auto backup = last_backup(ctx);
  if (!backup) return error_response(backup.error(), request_id);
  auto events = ctx.deps.store.event_backlog(kCountCap);
  if (!events) return error_response(events.error(), request_id);
  auto bank_events = ctx.deps.store.count_pending_bank_events(kCountCap);
  if (!bank_events) return error_response(bank_events.error(), request_id);
  return json_response(
      200,
      {{"generated_at", format_timestamp(now)},
       {"count_cap", kCountCap},
       {"due", {{"pending", due->pending}, {"retry", due->retry}}},
       {"in_flight", *in_flight},
       {"outcomes", std::move(*chart)},
       {"providers", providers(ctx, now)},
       {"backups_enabled", ctx.deps.backups != nullptr},
       {"last_backup", std::move(*backup)},
       {"events_backlog",
        {{"pending", events->pending},
         {"oldest", events->oldest ? json(format_timestamp(*events->oldest)) : json(nullptr)}}},
       {"bank_events_pending", *bank_events}});
}

}  // namespace

void add_overview_routes(Router& router, const RouteContext& ctx) {
  router.add("GET", "/v1/overview", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {}); !q) return respond(error_response(q.error()));
    run_blocking(ctx, req, respond, [ctx, rid = req.request_id] { return overview(ctx, rid); });
  });
}

}  // namespace rtjobs::http
