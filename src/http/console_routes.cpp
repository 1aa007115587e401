// GET /console/ and /console/<file>: the operator console (SPEC section 8), served from the
// files compiled into the binary (console_assets.hpp). These are the only routes besides the
// health checks that need no token: the page holds no data; it asks the operator for a token
// and sends it on every API call it makes, like any client. A strict Content-Security-Policy
// (scripts and styles from this origin only, no inline script) keeps a value the page shows
// from ever running as code; the ETag lets a browser revalidate instead of downloading again.
#include <algorithm>
#include <string>

#include "http/console_assets.hpp"
#include "http/errors.hpp"
#include "http/routes.hpp"

namespace rtjobs::http {
namespace {

constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

const ConsoleAsset* find_asset(std::string_view name) {
  auto assets = console_assets();
  auto it = std::ranges::find(assets, name, &ConsoleAsset::name);
  return it == assets.end() ? nullptr : &*it;
}

// True when the If-None-Match header names `etag` (a list, or "*").
bool not_modified(const Request& req, std::string_view etag) {
  auto header = req.header("if-none-match");
  if (!header) return false;
  return *header == "*" || header->find(etag) != std::string_view::npos;
}

Response asset_response(const Request& req, const ConsoleAsset& asset) {
  Response r;
  r.headers = {{"ETag", std::string(asset.etag)},
               {"Cache-Control", "no-cache"},
               {"Content-Security-Policy", kContentSecurityPolicy},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"},
               {"X-Frame-Options", "DENY"}};
  if (not_modified(req, asset.etag)) {
    r.status = 304;
    r.content_type = std::string(asset.content_type);
    return r;
  }
  r.content_type = std::string(asset.content_type);
  r.body = std::string(asset.body);
  return r;
}

}  // namespace

void add_console_routes(Router& router, const RouteContext&) {
  // If-None-Match is read, so every header is checked as text (RouteOptions::all_headers).
  const RouteOptions options{.public_route = true, .all_headers = true};
  router.add(
      "GET", "/console/",
      [](const Request& req, const Respond& respond) {
        respond(asset_response(req, *find_asset("index.html")));
      },
      options);
  router.add(
      "GET", "/console/{file}",
      [](const Request& req, const Respond& respond) {
        const ConsoleAsset* asset = find_asset(req.params.at("file"));
        if (!asset)
          return respond(error_response(404, "not_found", "no console file by this name"));
        respond(asset_response(req, *asset));
      },
      options);
}

}  // namespace rtjobs::http
