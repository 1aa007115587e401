// Events to the main API (SPEC section 8): the webhook endpoints a client registers, the
// deliveries to them, and the outbox's events.
//   POST   /v1/webhook-endpoints                      {"url", "event_types"?, "description"?}
//   GET    /v1/webhook-endpoints[/{id}]
//   DELETE /v1/webhook-endpoints/{id}
//   POST   /v1/webhook-endpoints/{id}/rotate-secret   the old secret signs too for 24 h
//   POST   /v1/webhook-endpoints/{id}/enable          after the dispatcher disabled it
//   GET    /v1/webhook-deliveries[?endpoint_id=&status=]
//   GET    /v1/webhook-deliveries/{id}
//   POST   /v1/webhook-deliveries/{id}/replay
//   GET    /v1/events[?after=]
// The secret is in the answers of create and rotate only: never listed, never logged.
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "baas/webhook_signature.hpp"
#include "core/net_address.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "http/errors.hpp"
#include "http/json_mapping.hpp"
#include "http/routes.hpp"
#include "store/events.hpp"
#include "store/store.hpp"

namespace rtjobs::http {

namespace {

using nlohmann::json;

constexpr auto kRotationOverlap = std::chrono::hours(24);

// `whsec_` and the base64 of 24 random bytes (192 bits), the form the Standard Webhooks
// libraries take.
Result<std::string> new_secret() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return fail(ErrorCode::kInternal, "no randomness for a webhook secret");
  }
  return "whsec_" +
         bank::base64_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

json with_secret(const WebhookEndpoint& endpoint) {
  json out = store_detail::to_json(endpoint);
  out["secret"] = endpoint.secret;
  return out;
}

// The create body (json_mapping.hpp: strict, every error names its field), then the url's host.
Result<WebhookEndpoint> parse_endpoint(std::string_view body, bool allow_private) {
  auto parsed = parse_webhook_endpoint(body);
  if (!parsed) return std::unexpected(parsed.error());
  WebhookEndpoint e;
  e.url = std::move(parsed->url);
  e.event_types = std::move(parsed->event_types);
  e.description = std::move(parsed->description);
  // Last: it resolves the host.
  if (auto checked = check_webhook_url(e.url, allow_private); !checked) {
    return std::unexpected(checked.error());
  }
  return e;
}

Response create_endpoint(const RouteContext& ctx, const Request& req) {
  auto endpoint = parse_endpoint(req.body, ctx.deps.webhook_allow_private);
  if (!endpoint) return error_response(endpoint.error());
  auto secret = new_secret();
  if (!secret) return error_response(secret.error(), req.request_id);
  Timestamp now = ctx.deps.clock.now();
  endpoint->id = new_uuid_v7(now);
  endpoint->secret = std::move(*secret);
  endpoint->created_at = now;
  endpoint->updated_at = now;
  auto created = ctx.deps.store.create_webhook_endpoint(*endpoint);
  if (!created) return error_response(created.error(), req.request_id);
  return json_response(201, with_secret(*created));
}

Response not_found(std::string_view what) {
  return error_response(404, "not_found", "no " + std::string(what) + " with this id");
}

json page_json(json data, const std::optional<std::string>& next_cursor) {
  return {{"data", std::move(data)},
          {"next_cursor", next_cursor ? json(*next_cursor) : json(nullptr)}};
}

Response list_deliveries(const RouteContext& ctx, const Request& req) {
  DeliveryFilter filter;
  if (auto it = req.query.find("endpoint_id"); it != req.query.end()) {
    if (!is_uuid(it->second))
      return error_response(invalid("endpoint_id", "endpoint_id must be a UUID").error());
    filter.endpoint_id = it->second;
  }
  if (auto it = req.query.find("status"); it != req.query.end()) {
    for (auto s : {DeliveryStatus::kPending, DeliveryStatus::kDelivered, DeliveryStatus::kFailed}) {
      if (it->second == to_string(s)) filter.status = s;
    }
    if (!filter.status) {
      return error_response(400, "invalid_argument",
                            "status must be one of pending, delivered, failed", "status");
    }
  }
  auto limit = parse_limit(req);
  if (!limit) return error_response(limit.error());
  filter.limit = *limit;
  if (auto it = req.query.find("cursor"); it != req.query.end()) filter.cursor = it->second;
  auto page = ctx.deps.store.list_webhook_deliveries(filter);
  if (!page) return error_response(page.error(), req.request_id);
  json data = json::array();
  for (const WebhookDeliveryRecord& d : page->data) data.push_back(store_detail::to_json(d));
  return json_response(200, page_json(std::move(data), page->next_cursor));
}

Response list_events(const RouteContext& ctx, const Request& req) {
  std::optional<std::string> after;
  if (auto it = req.query.find("after"); it != req.query.end()) {
    if (!is_uuid(it->second))
      return error_response(invalid("after", "after must be an event id").error());
    after = it->second;
  }
  auto limit = parse_limit(req);
  if (!limit) return error_response(limit.error());
  auto events = ctx.deps.store.list_events(after, *limit);
  if (!events) return error_response(events.error(), req.request_id);
  json data = json::array();
  for (const Event& e : *events) {
    data.push_back({{"id", e.id},
                    {"type", e.type},
                    {"created_at", format_timestamp(e.created_at)},
                    {"data", json::parse(e.data, nullptr, /*allow_exceptions=*/false)}});
  }
  std::optional<std::string> next;
  if (static_cast<int>(events->size()) == *limit) next = events->back().id;
  return json_response(200, page_json(std::move(data), next));
}

// A route whose only parameter is the id of an endpoint or a delivery, run on the blocking pool.
template <class Work>
void with_id(Router& router, const RouteContext& ctx, const std::string& method,
             const std::string& path, Work work) {
  router.add(method, path, [ctx, work](const Request& req, const Respond& respond) {
    auto id = uuid_param(req, "id", "id");
    if (!id) return respond(error_response(id.error()));
    if (auto q = check_query(req, {}); !q) return respond(error_response(q.error()));
    run_blocking(ctx, req, respond,
                 [ctx, work, id = *id, rid = req.request_id] { return work(ctx, id, rid); });
  });
}

}  // namespace

void add_webhook_routes(Router& router, const RouteContext& ctx) {
  router.add("POST", "/v1/webhook-endpoints", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {}); !q) return respond(error_response(q.error()));
    run_blocking(ctx, req, respond, [ctx, req] { return create_endpoint(ctx, req); });
  });

  router.add("GET", "/v1/webhook-endpoints", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {"limit", "cursor"}); !q) {
      return respond(error_response(q.error()));
    }
    run_blocking(ctx, req, respond, [ctx, req] {
      auto limit = parse_limit(req);
      if (!limit) return error_response(limit.error());
      std::optional<std::string> cursor;
      if (auto it = req.query.find("cursor"); it != req.query.end()) cursor = it->second;
      auto page = ctx.deps.store.list_webhook_endpoints(*limit, cursor);
      if (!page) return error_response(page.error(), req.request_id);
      json data = json::array();
      for (const WebhookEndpoint& e : page->data) data.push_back(store_detail::to_json(e));
      return json_response(200, page_json(std::move(data), page->next_cursor));
    });
  });

  with_id(router, ctx, "GET", "/v1/webhook-endpoints/{id}",
          [](const RouteContext& c, const std::string& id, const std::string& rid) {
            auto e = c.deps.store.get_webhook_endpoint(id);
            if (!e) return error_response(e.error(), rid);
            if (!*e) return not_found("webhook endpoint");
            return json_response(200, store_detail::to_json(**e));
          });

  with_id(router, ctx, "DELETE", "/v1/webhook-endpoints/{id}",
          [](const RouteContext& c, const std::string& id, const std::string& rid) {
            auto deleted = c.deps.store.delete_webhook_endpoint(id);
            if (!deleted) return error_response(deleted.error(), rid);
            return json_response(200, {{"id", id}, {"deleted", true}});
          });

  with_id(router, ctx, "POST", "/v1/webhook-endpoints/{id}/rotate-secret",
          [](const RouteContext& c, const std::string& id, const std::string& rid) {
            auto secret = new_secret();
            if (!secret) return error_response(secret.error(), rid);
            Timestamp now = c.deps.clock.now();
            auto e = c.deps.store.rotate_webhook_secret(id, std::move(*secret),
                                                        now + kRotationOverlap, now);
            if (!e) return error_response(e.error(), rid);
            return json_response(200, with_secret(*e));
          });

  with_id(router, ctx, "POST", "/v1/webhook-endpoints/{id}/enable",
          [](const RouteContext& c, const std::string& id, const std::string& rid) {
            auto e = c.deps.store.enable_webhook_endpoint(id, c.deps.clock.now());
            if (!e) return error_response(e.error(), rid);
            return json_response(200, store_detail::to_json(*e));
          });

  router.add("GET", "/v1/webhook-deliveries", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {"endpoint_id", "status", "limit", "cursor"}); !q) {
      return respond(error_response(q.error()));
    }
    run_blocking(ctx, req, respond, [ctx, req] { return list_deliveries(ctx, req); });
  });

  with_id(router, ctx, "GET", "/v1/webhook-deliveries/{id}",
          [](const RouteContext& c, const std::string& id, const std::string& rid) {
            auto d = c.deps.store.get_webhook_delivery(id);
            if (!d) return error_response(d.error(), rid);
            if (!*d) return not_found("webhook delivery");
            return json_response(200, store_detail::to_json(**d));
          });

  with_id(router, ctx, "POST", "/v1/webhook-deliveries/{id}/replay",
          [](const RouteContext& c, const std::string& id, const std::string& rid) {
            auto d = c.deps.store.replay_webhook_delivery(id, c.deps.clock.now());
            if (!d) return error_response(d.error(), rid);
            if (c.deps.wake_webhooks) c.deps.wake_webhooks();
            return json_response(201, store_detail::to_json(*d));
          });

  router.add("GET", "/v1/events", [ctx](const Request& req, const Respond& respond) {
    if (auto q = check_query(req, {"after", "limit"}); !q) {
      return respond(error_response(q.error()));
    }
    run_blocking(ctx, req, respond, [ctx, req] { return list_events(ctx, req); });
  });
}

}  // namespace rtjobs::http
