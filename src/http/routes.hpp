// Internal to src/http: what the route files share. Each add_*_routes registers one resource's
// handlers on the router; the helpers build JSON answers and run blocking work off the IO
// threads. Not included outside src/http.
#pragma once

#include <functional>
#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "http/api.hpp"
#include "http/job_reads.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"

namespace rtjobs::http {

struct RouteContext {
  ApiDependencies deps;
  HttpMetrics& metrics;
  const Router* router = nullptr;  // for /openapi.json's consistency
  JobReads* job_reads = nullptr;   // point reads on the IO threads (job_routes.cpp)
};

void add_health_routes(Router& router, const RouteContext& ctx);
void add_job_routes(Router& router, const RouteContext& ctx);
void add_transfer_routes(Router& router, const RouteContext& ctx);
void add_backup_routes(Router& router, const RouteContext& ctx);
void add_bank_webhook_routes(Router& router, const RouteContext& ctx);
void add_webhook_routes(Router& router, const RouteContext& ctx);
// The operator console: its files (console_routes.cpp) and GET /v1/overview (overview_routes.cpp).
void add_console_routes(Router& router, const RouteContext& ctx);
void add_overview_routes(Router& router, const RouteContext& ctx);

// GET /v1/jobs, and GET /v1/recurring-transfers/{id}/jobs with `transfer_id` (blocking).
Response list_jobs(const RouteContext& ctx, const Request& req,
                   const std::optional<std::string>& transfer_id);

// The OpenAPI 3 document of the API (openapi.cpp).
std::string_view openapi_document();

Response json_response(int status, const nlohmann::json& body);

// Runs `work` on the blocking executor and answers with what it returns (500 if it throws).
void run_blocking(const RouteContext& ctx, const Request& request, const Respond& respond,
                  std::function<Response()> work);

// 400 naming the first query parameter not in `allowed` (or given twice).
Result<void> check_query(const Request& request, std::initializer_list<std::string_view> allowed);
// The integer query parameter `name`: `fallback` when absent, else low..high (400 naming it
// otherwise).
Result<int> parse_int_query(const Request& request, const std::string& name, int low, int high,
                            int fallback);
// The "limit" query parameter: 1..500, default 50.
Result<int> parse_limit(const Request& request);
// A path parameter that must be a UUID; 400 naming `field` otherwise.
Result<std::string> uuid_param(const Request& request, std::string_view name,
                               std::string_view field);

}  // namespace rtjobs::http
