// GET /healthz, /readyz, /metrics and /openapi.json.
#include <nlohmann/json.hpp>
#include <utility>

#include "http/errors.hpp"
#include "http/routes.hpp"
#include "jobs/processor.hpp"
#include "store/store.hpp"

namespace rtjobs::http {

void add_health_routes(Router& router, const RouteContext& ctx) {
  router.add("GET", "/healthz",
             [](const Request&, const Respond& respond) {
               respond(json_response(200, {{"status", "ok"}}));
             },
             {.public_route = true});

  router.add("GET", "/readyz",
             [ctx](const Request& req, const Respond& respond) {
               run_blocking(ctx, req, respond, [ctx] {
                 auto ping = ctx.deps.store.ping();
                 if (!ping) {
                   return json_response(
                       503,
                       {{"status", "unavailable"},
                        {"error",
                         {{"code", "unavailable"}, {"message", "the database does not answer"}}}});
                 }
                 return json_response(200, {{"status", "ready"}});
               });
             },
             {.public_route = true});

  router.add("GET", "/metrics", [ctx](const Request&, const Respond& respond) {
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = ctx.metrics.render() + ctx.deps.processor.metrics().render();
    respond(std::move(r));
  });

  router.add("GET", "/openapi.json", [](const Request&, const Respond& respond) {
    Response r;
    r.body = std::string(openapi_document());
    respond(std::move(r));
  });
}

}  // namespace rtjobs::http
