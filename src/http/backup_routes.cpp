// POST /v1/backups starts a backup-and-delete run now, by the cron's rules ("force" skips the
// months check), and answers 202 with the run (Location: /v1/backups/{id}); with ?wait=true it
// answers when the run ends, 200 with its result (the form from before runs were resources, for
// scripts). 409 backup_in_progress names the run in progress. GET /v1/backups/{id} shows a run
// with its phase and progress (backup_runs.hpp), from any instance sharing the database;
// GET /v1/backups the history and last_backup_at. All 404 when the server runs without a
// backup service.
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

Result<bool> parse_wait(const Request& req) {
  auto it = req.query.find("wait");
  if (it == req.query.end()) return false;
  if (it->second == "true") return true;
  if (it->second == "false") return false;
  return invalid("wait", "must be true or false");
}

json optional_time(const std::optional<Timestamp>& t) {
  return t ? json(format_timestamp(*t)) : json(nullptr);
}

// A run as GET /v1/backups/{id} shows it; `result` is the POST's 200 answer once succeeded.
json run_json(const BackupRunRecord& r) {
  json result = nullptr;
  if (r.result) {
    result = json::parse(*r.result, nullptr, /*allow_exceptions=*/false);
    if (result.is_discarded()) result = nullptr;
  }
  return {{"id", r.id},
          {"status", r.status},
          {"phase", r.phase},
          {"force", r.force},
          {"progress",
           {{"job_rows", r.job_rows},
            {"provider_status_rows", r.provider_status_rows},
            {"uploaded_bytes", r.uploaded_bytes},
            {"deleted_job_rows", r.deleted_job_rows},
            {"deleted_provider_status_rows", r.deleted_provider_status_rows}}},
          {"started_at", format_timestamp(r.started_at)},
          {"heartbeat_at", optional_time(r.heartbeat_at)},
          {"finished_at", optional_time(r.finished_at)},
          {"result", result},
          {"error", r.error ? json(*r.error) : json(nullptr)}};
}

Response location(Response r, const std::string& id) {
  r.headers.emplace_back("Location", "/v1/backups/" + id);
  return r;
}

// The 409 of a POST while a run is in progress, naming that run when it is known.
Response in_progress(const Error& e, const std::string& running_id) {
  json error = {{"code", e.reason}, {"message", e.message}};
  if (running_id.empty()) return json_response(409, {{"error", error}});
  error["run_id"] = running_id;
  return location(json_response(409, {{"error", error}}), running_id);
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
    if (auto q = check_query(req, {"wait"}); !q) return respond(error_response(q.error()));
    auto wait = parse_wait(req);
    if (!wait) return respond(error_response(wait.error()));
    auto force = parse_force(req.body);
    if (!force) return respond(error_response(force.error()));
    // Starting takes the run lock and records the run (a few short statements, on the blocking
    // pool); the run itself goes on a thread of its own, and with ?wait=true its end answers.
    ctx.deps.blocking([ctx, respond, force = *force, wait = *wait, id = req.request_id] {
      backup::BackupRuns::Done done;
      if (wait) {
        done = [respond, id](const Result<backup::BackupResult>& result) {
          if (!result) return respond(error_response(result.error(), id));
          Response r;
          r.body = backup::result_json(*result);
          respond(std::move(r));
        };
      }
      std::string running;
      Result<BackupRunRecord> run = fail(ErrorCode::kInternal, "not started");
      try {
        run = ctx.deps.backups->start_run(force, std::move(done), &running);
      } catch (const std::exception& e) {
        run = fail(ErrorCode::kInternal, std::string("starting a backup run: ") + e.what());
      }
      if (!run && run.error().reason == "backup_in_progress") {
        return respond(in_progress(run.error(), running));
      }
      if (!run) return respond(error_response(run.error(), id));
      if (!wait) respond(location(json_response(202, run_json(*run)), run->id));
    });
  });

  router.add("GET", "/v1/backups/{id}", [ctx](const Request& req, const Respond& respond) {
    if (!ctx.deps.backups) return respond(unavailable());
    if (auto q = check_query(req, {}); !q) return respond(error_response(q.error()));
    auto id = uuid_param(req, "id", "id");
    if (!id) return respond(error_response(id.error()));
    run_blocking(ctx, req, respond, [ctx, id = *id] {
      auto run = ctx.deps.backups->get_run(id);
      if (!run) return error_response(run.error());
      if (!*run) return error_response(404, "not_found", "no backup run with this id");
      return json_response(200, run_json(**run));
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
