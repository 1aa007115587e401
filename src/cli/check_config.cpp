#include "cli/check_config.hpp"

#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <vector>

#include "app/application.hpp"
#include "baas/registry.hpp"
#include "backup/object_store.hpp"
#include "cli/exit_codes.hpp"
#include "config/config.hpp"
#include "schedule/calendar.hpp"

namespace rtjobs::cli {

namespace {

void print_problem(const Error& e) {
  std::fprintf(stderr, "rtjobs: invalid configuration: %s: %s\n",
               e.field.empty() ? "(configuration)" : e.field.c_str(), e.message.c_str());
}

int probe_providers(const Config& config, const ProviderRegistry& registry) {
  int result = kOk;
  for (const std::string& name : registry.names()) {
    Provider* provider = registry.find(name);
    auto it = config.providers.find(name);
    std::string where = it == config.providers.end()
                            ? std::string()
                            : it->second.type + (it->second.base_url.empty()
                                                     ? std::string()
                                                     : ", " + url_origin(it->second.base_url));
    std::promise<ProbeAnswer> answered;
    auto answer = answered.get_future();
    const auto start = std::chrono::steady_clock::now();
    provider->probe([&answered](ProbeAnswer a) { answered.set_value(std::move(a)); });
    const ProbeAnswer a = answer.get();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    const ProbeVerdict verdict = judge_probe(a);
    std::printf("provider %s (%s): %s", name.c_str(), where.c_str(), verdict.text.c_str());
    if (a.probed) std::printf(", %lld ms", static_cast<long long>(ms));
    std::printf("\n");
    if (!verdict.ok) result = kFailed;
  }
  return result;
}

}  // namespace

ProbeVerdict judge_probe(const ProbeAnswer& a) {
  if (!a.probed) return {true, "not probed (no remote API)"};
  if (!a.http_status) return {false, "unreachable: " + a.error};
  const int s = *a.http_status;
  const std::string http = "(HTTP " + std::to_string(s) + ")";
  if (s == 401 || s == 403) return {false, "reachable, credentials refused " + http};
  if ((s >= 200 && s < 300) || s == 404) return {true, "reachable, credentials accepted " + http};
  return {false, "reachable, but answered " + http + ": credentials not confirmed"};
}

std::string url_origin(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t host_start = scheme == std::string_view::npos ? 0 : scheme + 3;
  size_t host_end = url.find_first_of("/?#", host_start);
  if (host_end == std::string_view::npos) host_end = url.size();
  std::string_view authority = url.substr(host_start, host_end - host_start);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return std::string(url.substr(0, host_start)) + std::string(authority);
}

int check_config(const std::string& config_file, bool probe) {
  std::optional<std::string> file;
  if (!config_file.empty()) file = config_file;
  auto config = load_config(file, process_env());
  if (!config) {
    print_problem(config.error());
    return kUsage;
  }
  // The checks serve makes after loading (all but the database's), each reported, so one run
  // shows every problem.
  bool valid = true;
  if (auto exposed = check_exposure(*config); !exposed) {
    print_problem(exposed.error());
    valid = false;
  }
  auto registry = ProviderRegistry::from_config(*config);
  if (!registry) {
    print_problem(registry.error());
    valid = false;
  }
  if (auto calendars = CalendarSet::make(config->calendars); !calendars) {
    print_problem(calendars.error());
    valid = false;
  }
  // Where backups go (RT_BACKUP_URL and the S3 settings), as BackupService::open reads them.
  const EnvLookup env = process_env();
  const backup::S3Settings s3 = backup::s3_settings_from_env(
      [&env](const char* name) { return env(name); }, config->s3_endpoint, config->s3_region);
  if (auto objects = backup::open_object_store(config->backup_url, s3); !objects) {
    print_problem(objects.error());
    valid = false;
  }
  if (!valid) return kUsage;
  std::string names;
  for (const std::string& name : (*registry)->names()) names += (names.empty() ? "" : ", ") + name;
  std::printf("configuration valid; providers: %s\n", names.c_str());
  return probe ? probe_providers(*config, **registry) : kOk;
}

}  // namespace rtjobs::cli
