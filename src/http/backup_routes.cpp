// POST /v1/backups (run the backup-and-delete now, by the cron's rules; "force" skips the months
// check) and GET /v1/backups (history and last_backup_at). Both 404 when the server runs
// without a backup service.
#include <nlohmann/json.hpp>

#include "backup/backup_service.hpp"
#include "core/time_format.hpp"
#include "http/errors.hpp"
#include "http/routes.hpp"

namespace rtjobs::http {
namespace {

using nlohmann::json;

Result<bool> parse_force(const std::string& body) {
  if (body.empty()) return false;
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return invalid("body", "must be a JSON object");
  bool force = false;
  for (const auto& [key, value] : doc.items()) {
    if (key != "force") return invalid(key, "unknown field");
    if (!value.is_boolean()) return invalid("force", "must be true or false");
    force = value.get<bool>();
  }
  return force;
}

json result_json(const backup::BackupResult& r) {
  json objects = json::array();
  for (const auto& o : r.objects) {
    objects.push_back({{"table", o.table},
                       {"url", o.url},
                       {"rows", o.rows},
                       {"bytes", o.bytes},
                       {"sha256", o.sha256}});
  }
  return {{"outcome", backup::to_string(r.outcome)},
          {"timestamp_saved", r.timestamp_saved},
          {"job_rows", r.job_rows},
          {"provider_status_rows", r.provider_status_rows},
          {"objects", objects},
          {"run_at", format_timestamp(r.run_at)},
          {"cutoff", r.cutoff ? json(format_date(*r.cutoff)) : json(nullptr)}};
}

json record_json(const BackupRecord& b) {
  return {{"id", b.id},
          {"backup_at", format_timestamp(b.backup_at)},
          {"cutoff", format_timestamp(b.cutoff)},
          {"job_rows", b.job_rows},
          {"provider_status_rows", b.provider_status_rows},
          {"objects", json::parse(b.objects, nullptr, false)},
          {"bytes", b.bytes},
          {"checksums", json::parse(b.checksums, nullptr, false)},
          {"created_at", format_timestamp(b.created_at)}};
}

Response unavailable() {
  return error_response(404, "not_found", "backups are not configured on this server");
}

}  // namespace

void add_backup_routes(Router& router, const RouteContext& ctx) {
  router.add("POST", "/v1/backups", [ctx](const Request& req, const Respond& respond) {
    if (!ctx.deps.backups) return respond(unavailable());
    auto force = parse_force(req.body);
    if (!force) return respond(error_response(force.error()));
    run_blocking(ctx, req, respond, [ctx, force = *force] {
      auto result = ctx.deps.backups->run(force);
      if (!result) return error_response(result.error());
      return json_response(200, result_json(*result));
    });
  });

  router.add("GET", "/v1/backups", [ctx](const Request& req, const Respond& respond) {
    if (!ctx.deps.backups) return respond(unavailable());
    if (auto q = check_query(req, {"limit"}); !q) return respond(error_response(q.error()));
    auto limit = parse_limit(req);
    if (!limit) return respond(error_response(limit.error()));
    run_blocking(ctx, req, respond, [ctx, limit = *limit] {
      auto history = ctx.deps.backups->history(limit);
      if (!history) return error_response(history.error());
      json data = json::array();
      for (const auto& b : history->backups) data.push_back(record_json(b));
      return json_response(
          200, {{"data", data},
                {"last_backup_at", history->last_backup_at
                                       ? json(format_timestamp(*history->last_backup_at))
                                       : json(nullptr)},
                {"next_cursor", nullptr}});
    });
  });
}

}  // namespace rtjobs::http
