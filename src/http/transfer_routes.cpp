// POST /v1/recurring-transfers, GET /v1/recurring-transfers[/{id}[/jobs]],
// POST /v1/recurring-transfers/{id}/pause | resume | cancel,
// GET /v1/recurring-transfers/{id}/occurrences, PATCH /v1/recurring-transfers/{id},
// GET /v1/recurring-transfers/{id}/history.
#include <charconv>
#include <nlohmann/json.hpp>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "http/auth.hpp"
#include "http/errors.hpp"
#include "http/json_mapping.hpp"
#include "http/routes.hpp"
#include "jobs/transfer_service.hpp"
#include "store/store.hpp"

namespace rtjobs::http {

namespace {

using nlohmann::json;

// A transfer's JSON with its version as the ETag header (a strong validator, quoted).
Response transfer_response(int status, const RecurringTransfer& t) {
  Response r = json_response(status, to_json(t));
  std::string etag = "\"";
  etag.append(std::to_string(t.version)).append("\"");
  r.headers.emplace_back("ETag", std::move(etag));
  return r;
}

Response create_transfer(const RouteContext& ctx, const Request& req) {
  auto parsed = parse_new_transfer(req.body);
  if (!parsed) return error_response(parsed.error());
  NewTransfer t = std::move(*parsed);
  if (auto key = req.header("idempotency-key")) {
    if (key->empty() || key->size() > 255) {
      return error_response(400, "invalid_argument", "Idempotency-Key must be 1 to 255 characters",
                            "Idempotency-Key");
    }
    t.idempotency_key = std::string(*key);
  }
  // The fingerprint is the whole body's: every field (rail and provider_options too) takes part.
  t.request_hash = sha256_hex(req.body);
  auto created = ctx.deps.transfers.create(t, req.caller);
  if (!created) return error_response(created.error(), req.request_id);
  return transfer_response(created->created ? 201 : 200, created->transfer);
}

Response list_transfers(const RouteContext& ctx, const Request& req) {
  TransferFilter filter;
  if (auto it = req.query.find("status"); it != req.query.end()) {
    filter.status = parse_transfer_status(it->second);
    if (!filter.status) {
      return error_response(400, "invalid_argument",
                            "status must be one of ACTIVE, PAUSED, CANCELLED, COMPLETED", "status");
    }
  }
  // Exact matches (an index-free scan in id order stops at the page's end).
  for (auto [name, field] :
       {std::pair{"external_id", &filter.external_id}, std::pair{"account", &filter.account}}) {
    auto it = req.query.find(name);
    if (it == req.query.end()) continue;
    if (it->second.empty() || it->second.size() > 255) {
      return error_response(400, "invalid_argument",
                            std::string(name) + " must be 1 to 255 characters", name);
    }
    *field = it->second;
  }
  auto limit = parse_limit(req);
  if (!limit) return error_response(limit.error());
  filter.limit = *limit;
  if (auto it = req.query.find("cursor"); it != req.query.end()) filter.cursor = it->second;
  auto page = ctx.deps.store.list_transfers(filter);
  if (!page) return error_response(page.error(), req.request_id);
  json data = json::array();
  for (const RecurringTransfer& t : page->data) data.push_back(to_json(t));
  return json_response(
      200, {{"data", std::move(data)},
            {"next_cursor", page->next_cursor ? json(*page->next_cursor) : json(nullptr)}});
}

// The next occurrences, computed from the schedule (none stored): `count` 1..100, default 12.
constexpr int kMaxOccurrences = 100;
constexpr int kDefaultOccurrences = 12;

Response list_occurrences(const RouteContext& ctx, const std::string& id, int count,
                          const std::string& request_id) {
  auto upcoming = ctx.deps.transfers.upcoming(id, count);
  if (!upcoming) return error_response(upcoming.error(), request_id);
  json data = json::array();
  for (const Occurrence& o : *upcoming) {
    data.push_back({{"sequence", o.sequence},
                    {"unadjusted_date", format_date(o.unadjusted)},
                    {"scheduled_for", format_date(o.scheduled_for)},
                    {"due_at", format_timestamp(o.due_at)}});
  }
  return json_response(200, {{"data", std::move(data)}});
}

// The version an If-Match header names: an ETag as transfer_response writes it ("3"), or the
// bare number. Absent: 428, since a change without it could overwrite one it never saw.
Result<int64_t> if_match_version(const Request& req) {
  auto header = req.header("if-match");
  if (!header) {
    return std::unexpected(Error{ErrorCode::kInvalidArgument,
                                 "If-Match is required: the transfer's ETag (its version) as read",
                                 "If-Match", "precondition_required"});
  }
  std::string_view v = *header;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  int64_t version = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), version);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || version < 1) {
    return invalid("If-Match", "If-Match must be the transfer's ETag, e.g. \"3\"");
  }
  return version;
}

Response patch_transfer(const RouteContext& ctx, const Request& req, const std::string& id) {
  auto patch = parse_transfer_patch(req.body);
  if (!patch) return error_response(patch.error());
  auto version = if_match_version(req);
  if (!version) {
    if (version.error().reason == "precondition_required") {
      return error_response(428, "precondition_required", version.error().message, "If-Match");
    }
    return error_response(version.error());
  }
  patch->expected_version = *version;
  auto changed = ctx.deps.transfers.patch(id, *patch, req.caller);
  if (!changed) {
    Error e = changed.error();
    if (e.code == ErrorCode::kNotFound) e.reason = "not_found";
    return error_response(e, req.request_id);
  }
  return transfer_response(200, *changed);
}

Response list_history(const RouteContext& ctx, const Request& req, const std::string& id) {
  auto limit = parse_limit(req);
  if (!limit) return error_response(limit.error());
  std::optional<std::string> cursor;
  if (auto it = req.query.find("cursor"); it != req.query.end()) cursor = it->second;
  auto page = ctx.deps.store.list_transfer_changes(id, *limit, cursor);
  if (!page) {
    Error e = page.error();
    if (e.code == ErrorCode::kNotFound) e.reason = "not_found";
    return error_response(e, req.request_id);
  }
  json data = json::array();
  for (const TransferChange& c : page->data) {
    json changes = json::parse(c.changes, nullptr, false);
    data.push_back({{"id", c.id},
                    {"recurring_transfer_id", c.recurring_transfer_id},
                    {"action", c.action},
                    {"job_id", c.job_id ? json(*c.job_id) : json(nullptr)},
                    {"actor", c.actor ? json(*c.actor) : json(nullptr)},
                    {"changes", changes.is_discarded() ? json::object() : std::move(changes)},
                    {"created_at", format_timestamp(c.created_at)}});
  }
  return json_response(
      200, {{"data", std::move(data)},
            {"next_cursor", page->next_cursor ? json(*page->next_cursor) : json(nullptr)}});
}

}  // namespace

void add_transfer_routes(Router& router, const RouteContext& ctx) {
  router.add("POST", "/v1/recurring-transfers", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {}); !q) return respond(error_response(q.error()));
    run_blocking(ctx, req, respond, [ctx, req] { return create_transfer(ctx, req); });
  });

  router.add("GET", "/v1/recurring-transfers", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {"status", "external_id", "account", "limit", "cursor"}); !q) {
      return respond(error_response(q.error()));
    }
    run_blocking(ctx, req, respond, [ctx, req] { return list_transfers(ctx, req); });
  });

  router.add("GET", "/v1/recurring-transfers/{id}",
             [ctx](const Request& req, const Respond& respond) {
               auto id = uuid_param(req, "id", "id");
               if (!id) return respond(error_response(id.error()));
               run_blocking(ctx, req, respond, [ctx, id = *id, rid = req.request_id] {
                 auto t = ctx.deps.store.get_transfer(id);
                 if (!t) return error_response(t.error(), rid);
                 if (!*t)
                   return error_response(404, "not_found", "no recurring transfer with this id");
                 return transfer_response(200, **t);
               });
             });

  for (auto [verb, action] :
       {std::pair{"pause", TransferAction::kPause}, std::pair{"resume", TransferAction::kResume},
        std::pair{"cancel", TransferAction::kCancel}}) {
    router.add("POST", std::string("/v1/recurring-transfers/{id}/") + verb,
               [ctx, action](const Request& req, const Respond& respond) {
                 auto id = uuid_param(req, "id", "id");
                 if (!id) return respond(error_response(id.error()));
                 run_blocking(ctx, req, respond,
                              [ctx, action, id = *id, rid = req.request_id, who = req.caller] {
                                auto t = ctx.deps.transfers.change_status(id, action, who);
                                if (!t) return error_response(t.error(), rid);
                                return transfer_response(200, *t);
                              });
               });
  }

  router.add("PATCH", "/v1/recurring-transfers/{id}",
             [ctx](const Request& req, const Respond& respond) {
               auto id = uuid_param(req, "id", "id");
               if (!id) return respond(error_response(id.error()));
               if (auto q = check_query(req, {}); !q) return respond(error_response(q.error()));
               run_blocking(ctx, req, respond,
                            [ctx, req, id = *id] { return patch_transfer(ctx, req, id); });
             });

  router.add("GET", "/v1/recurring-transfers/{id}/history",
             [ctx](const Request& req, const Respond& respond) {
               auto id = uuid_param(req, "id", "id");
               if (!id) return respond(error_response(id.error()));
               if (auto q = check_query(req, {"limit", "cursor"}); !q) {
                 return respond(error_response(q.error()));
               }
               run_blocking(ctx, req, respond,
                            [ctx, req, id = *id] { return list_history(ctx, req, id); });
             });

  router.add("GET", "/v1/recurring-transfers/{id}/occurrences",
             [ctx](const Request& req, const Respond& respond) {
               auto id = uuid_param(req, "id", "id");
               if (!id) return respond(error_response(id.error()));
               if (auto q = check_query(req, {"count"}); !q) {
                 return respond(error_response(q.error()));
               }
               auto count = parse_int_query(req, "count", 1, kMaxOccurrences, kDefaultOccurrences);
               if (!count) return respond(error_response(count.error()));
               run_blocking(ctx, req, respond,
                            [ctx, id = *id, count = *count, rid = req.request_id] {
                              return list_occurrences(ctx, id, count, rid);
                            });
             });

  router.add(
      "GET", "/v1/recurring-transfers/{id}/jobs",
      [ctx](const Request& req, const Respond& respond) {
        auto id = uuid_param(req, "id", "id");
        if (!id) return respond(error_response(id.error()));
        if (auto q = check_query(req, {"status", "result", "settlement_status", "limit", "cursor"});
            !q) {
          return respond(error_response(q.error()));
        }
        run_blocking(ctx, req, respond, [ctx, req, id = *id] {
          auto t = ctx.deps.store.get_transfer(id);
          if (!t) return error_response(t.error(), req.request_id);
          if (!*t) return error_response(404, "not_found", "no recurring transfer with this id");
          return list_jobs(ctx, req, id);
        });
      });
}

}  // namespace rtjobs::http
