// The jobs server contract (POST /v1/jobs/{job_id}/process, POST /v1/jobs/process) and the job
// reads: GET /v1/jobs, /v1/jobs/{id}, /v1/jobs/{id}/provider-statuses; an operator's
// POST /v1/jobs/{id}/retry and /skip.
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "core/uuid.hpp"
#include "http/errors.hpp"
#include "http/json_mapping.hpp"
#include "http/routes.hpp"
#include "jobs/processor.hpp"
#include "jobs/transfer_service.hpp"
#include "store/store.hpp"

namespace rtjobs::http {
namespace {

using nlohmann::json;

constexpr size_t kMaxBatch = 100;

json error_object(std::string_view code, std::string_view message, std::string_view field = {}) {
  json e = {{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  return e;
}

// A processing outcome as (HTTP status, body): the job, or {"error": {...}}.
std::pair<int, json> process_outcome(const ProcessResult& r) {
  switch (r.status) {
    case ProcessStatus::kProcessed:
    case ProcessStatus::kTerminal:
    case ProcessStatus::kSkipped:
      if (r.job) return {200, to_json(*r.job)};
      break;
    case ProcessStatus::kNotFound:
      return {404, {{"error", error_object("not_found", "no job with this id")}}};
    case ProcessStatus::kInProgress:
    case ProcessStatus::kLeaseLost:
      return {409,
              {{"error", error_object("job_in_progress", "the job is being processed elsewhere")}}};
    case ProcessStatus::kNotDue:
      return {409, {{"error", error_object("job_not_due", "the job is not due yet")}}};
    case ProcessStatus::kError:
      break;
  }
  Error e = r.error.value_or(Error{ErrorCode::kInternal, "processing gave no job", {}, {}});
  Response resp = error_response(e);
  return {resp.status, json::parse(resp.body)};
}

// Claims and processes the job, answering with the outcome.
void process_claimed(const RouteContext& ctx, std::string id, const Respond& respond) {
  ctx.deps.processor.process(std::move(id), [respond](const ProcessResult& r) {
    auto [status, body] = process_outcome(r);
    respond(json_response(status, body));
  });
}

// A job that is already terminal is answered from a point read right on the IO thread (200 with
// the job, no bank call), and so is an unknown one (404): repeated deliveries of a queue mostly
// find their job terminal, and these answers need no claim. Any other job, or no read done at
// once, goes to the processor, which decides under its claim, as it always does.
void process_one(const RouteContext& ctx, const Request& req, const Respond& respond) {
  auto id = uuid_param(req, "job_id", "job_id");
  if (!id) return respond(error_response(id.error()));
  // The route's context lives as long as the router.
  ctx.job_reads->read(*id, [c = &ctx, id = *id, respond](Result<std::optional<Job>> job) {
    if (!job) return process_claimed(*c, id, respond);
    if (!*job) return respond(error_response(404, "not_found", "no job with this id"));
    if (!is_terminal((*job)->status)) return process_claimed(*c, id, respond);
    respond(Response{200, "application/json", job_json(**job), {}});
  });
}

// Collects the answers of a batch, in request order, and answers when the last one is in.
struct Batch {
  explicit Batch(size_t n, Respond r) : results(n), pending(n), respond(std::move(r)) {}
  void set(size_t i, json result) {
    {
      std::lock_guard lock(mutex);
      results[i] = std::move(result);
    }
    if (pending.fetch_sub(1) == 1) {
      json all = json::array();
      for (auto& r : results) all.push_back(std::move(r));
      respond(json_response(200, {{"results", std::move(all)}}));
    }
  }
  std::mutex mutex;
  std::vector<json> results;  // guarded by mutex
  std::atomic<size_t> pending;
  Respond respond;
};

void process_batch(const RouteContext& ctx, const Request& req, Respond respond) {
  auto doc = parse_json_object(req.body);
  if (!doc) return respond(error_response(doc.error()));
  for (auto it = doc->begin(); it != doc->end(); ++it) {
    if (it.key() != "job_ids") {
      return respond(
          error_response(400, "invalid_argument", "unknown field " + it.key(), it.key()));
    }
  }
  auto ids = doc->find("job_ids");
  if (ids == doc->end() || !ids->is_array() || ids->empty() || ids->size() > kMaxBatch) {
    return respond(error_response(400, "invalid_argument",
                                  "job_ids must be an array of 1 to 100 job ids", "job_ids"));
  }
  std::vector<std::string> job_ids;
  for (size_t i = 0; i < ids->size(); ++i) {
    const json& v = (*ids)[i];
    std::string field = "job_ids[" + std::to_string(i) + "]";
    if (!v.is_string()) {
      return respond(error_response(400, "invalid_argument", field + " must be a string", field));
    }
    job_ids.push_back(v.get<std::string>());
  }
  auto batch = std::make_shared<Batch>(job_ids.size(), std::move(respond));
  for (size_t i = 0; i < job_ids.size(); ++i) {
    const std::string& id = job_ids[i];
    if (!is_uuid(id)) {
      batch->set(i,
                 {{"job_id", id},
                  {"http_status", 400},
                  {"error", error_object("invalid_argument", "job_id must be a UUID", "job_id")}});
      continue;
    }
    ctx.deps.processor.process(id, [batch, i, id](const ProcessResult& r) {
      auto [status, body] = process_outcome(r);
      json item = {{"job_id", id}, {"http_status", status}};
      if (status == 200) {
        item["job"] = std::move(body);
      } else {
        item["error"] = std::move(body["error"]);
      }
      batch->set(i, std::move(item));
    });
  }
}

}  // namespace

// GET /v1/jobs and GET /v1/recurring-transfers/{id}/jobs share this.
Response list_jobs(const RouteContext& ctx, const Request& req,
                   const std::optional<std::string>& transfer_id) {
  JobFilter filter;
  if (auto it = req.query.find("status"); it != req.query.end()) {
    filter.status = parse_job_status(it->second);
    if (!filter.status) {
      return error_response(400, "invalid_argument",
                            "status must be one of PENDING, IN_FLY, PROCESSING, RETRY, FINISHED, "
                            "FAILED, SKIPPED, CANCELLED",
                            "status");
    }
  }
  if (auto it = req.query.find("result"); it != req.query.end()) {
    filter.result = parse_job_result(it->second);
    if (!filter.result) {
      return error_response(400, "invalid_argument",
                            "result must be one of SUCCEEDED, DECLINED, RETURNED", "result");
    }
  }
  if (auto it = req.query.find("settlement_status"); it != req.query.end()) {
    filter.settlement_status = parse_settlement_status(it->second);
    if (!filter.settlement_status) {
      return error_response(400, "invalid_argument",
                            "settlement_status must be one of pending, settled, returned, "
                            "canceled, unknown",
                            "settlement_status");
    }
  }
  if (auto it = req.query.find("recurring_transfer_id"); it != req.query.end()) {
    if (!is_uuid(it->second)) {
      return error_response(400, "invalid_argument", "recurring_transfer_id must be a UUID",
                            "recurring_transfer_id");
    }
    filter.recurring_transfer_id = it->second;
  }
  if (transfer_id) filter.recurring_transfer_id = transfer_id;
  auto limit = parse_limit(req);
  if (!limit) return error_response(limit.error());
  filter.limit = *limit;
  if (auto it = req.query.find("cursor"); it != req.query.end()) filter.cursor = it->second;
  auto page = ctx.deps.store.list_jobs(filter);
  if (!page) return error_response(page.error(), req.request_id);
  json data = json::array();
  for (const Job& j : page->data) data.push_back(to_json(j));
  return json_response(
      200, {{"data", std::move(data)},
            {"next_cursor", page->next_cursor ? json(*page->next_cursor) : json(nullptr)}});
}

void add_job_routes(Router& router, const RouteContext& ctx) {
  router.add("POST", "/v1/jobs/{job_id}/process",
             [ctx](const Request& req, const Respond& respond) { process_one(ctx, req, respond); });
  router.add("POST", "/v1/jobs/process", [ctx](const Request& req, Respond respond) {
    process_batch(ctx, req, std::move(respond));
  });

  router.add("GET", "/v1/jobs", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {"status", "result", "settlement_status", "recurring_transfer_id",
                                   "limit", "cursor"});
        !q) {
      return respond(error_response(q.error()));
    }
    run_blocking(ctx, req, respond, [ctx, req] { return list_jobs(ctx, req, std::nullopt); });
  });

  router.add("GET", "/v1/jobs/{job_id}", [ctx](const Request& req, const Respond& respond) {
    auto id = uuid_param(req, "job_id", "job_id");
    if (!id) return respond(error_response(id.error()));
    run_blocking(ctx, req, respond, [ctx, id = *id, rid = req.request_id] {
      auto job = ctx.deps.store.get_job(id);
      if (!job) return error_response(job.error(), rid);
      if (!*job) return error_response(404, "not_found", "no job with this id");
      return json_response(200, to_json(**job));
    });
  });

  router.add("GET", "/v1/jobs/{job_id}/provider-statuses",
             [ctx](const Request& req, const Respond& respond) {
               auto id = uuid_param(req, "job_id", "job_id");
               if (!id) return respond(error_response(id.error()));
               run_blocking(ctx, req, respond, [ctx, id = *id, rid = req.request_id] {
                 auto job = ctx.deps.store.get_job(id);
                 if (!job) return error_response(job.error(), rid);
                 if (!*job) return error_response(404, "not_found", "no job with this id");
                 auto statuses = ctx.deps.store.list_provider_statuses(id);
                 if (!statuses) return error_response(statuses.error(), rid);
                 json data = json::array();
                 for (const ProviderStatus& s : *statuses) data.push_back(to_json(s));
                 return json_response(200, {{"data", std::move(data)}});
               });
             });

  router.add("POST", "/v1/jobs/{job_id}/retry", [ctx](const Request& req, const Respond& respond) {
    auto id = uuid_param(req, "job_id", "job_id");
    if (!id) return respond(error_response(id.error()));
    run_blocking(ctx, req, respond, [ctx, id = *id, rid = req.request_id, who = req.caller] {
      auto job = ctx.deps.processor.retry_failed(id, who);
      if (!job) {
        Error e = job.error();
        if (e.code == ErrorCode::kConflict && e.reason.empty()) e.reason = "job_not_failed";
        if (e.code == ErrorCode::kNotFound && e.reason.empty()) e.reason = "not_found";
        return error_response(e, rid);
      }
      return json_response(200, to_json(*job));
    });
  });

  router.add("POST", "/v1/jobs/{job_id}/skip", [ctx](const Request& req, const Respond& respond) {
    auto id = uuid_param(req, "job_id", "job_id");
    if (!id) return respond(error_response(id.error()));
    if (auto q = check_query(req, {}); !q) return respond(error_response(q.error()));
    run_blocking(ctx, req, respond, [ctx, id = *id, rid = req.request_id, who = req.caller] {
      auto job = ctx.deps.transfers.skip_job(id, who);
      if (!job) {
        Error e = job.error();
        if (e.code == ErrorCode::kNotFound) e.reason = "not_found";
        return error_response(e, rid);
      }
      return json_response(200, to_json(*job));
    });
  });
}

}  // namespace rtjobs::http
