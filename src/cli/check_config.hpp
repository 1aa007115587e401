// `rtjobs check-config [--config FILE] [--probe]`: the configuration checks `serve` makes before
// it opens the database (config/config.hpp's loader, check_exposure, the providers, the holiday
// calendars, where backups go), each problem printed naming its setting; then, with --probe, one harmless
// authenticated read of each provider (Provider::probe) with what it found and how long it took.
// Secrets are never printed: a provider is shown by name, type and host.
//
// Exit: kOk; kUsage when the configuration is invalid; kFailed when a probe found a provider
// unreachable, refusing the credentials, or answering something else.
#pragma once

#include <string>

#include "baas/provider.hpp"

namespace rtjobs::cli {

int check_config(const std::string& config_file, bool probe);

struct ProbeVerdict {
  bool ok = false;
  std::string text;  // "reachable, credentials accepted (HTTP 404)"
};

// What a probe's answer says. A 2xx or 404 (no such transfer: the bank looked) took the
// credentials; 401 and 403 refused them.
ProbeVerdict judge_probe(const ProbeAnswer& answer);

// The URL without its user information (user:password@) and without its path and query.
std::string url_origin(std::string_view url);

}  // namespace rtjobs::cli
