#include "cli/operator_commands.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "baas/bank_answer.hpp"
#include "cli/api_client.hpp"
#include "cli/backup_watch.hpp"
#include "cli/check_config.hpp"
#include "cli/table.hpp"

namespace rtjobs::cli {

namespace {

using nlohmann::json;

constexpr int kMaxPage = 500;  // the API's largest limit

// How to reach the server and how to print, shared by every API subcommand.
struct Connection {
  std::string url;
  std::string token;
  bool json = false;
  int timeout_s = 30;
};

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::move(fallback);
}

int report(const CliError& e) {
  std::fprintf(stderr, "rtjobs: %s\n", e.message.c_str());
  return e.code;
}

void print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

CliResult<std::unique_ptr<ApiClient>> connect(const Connection& c) {
  std::string url = c.url.empty() ? env_or("RT_URL", "http://127.0.0.1:8080") : c.url;
  std::string token = c.token.empty() ? env_or("RT_API_TOKEN", "") : c.token;
  return ApiClient::create(std::move(url), std::move(token), std::chrono::seconds(c.timeout_s));
}

CliResult<json> parse(const std::string& body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return std::unexpected(CliError{kUnavailable, "the server's answer is not JSON"});
  }
  return doc;
}

// One record (GET or POST answer): as it came with --json, else a field per line.
int show_record(const Connection& c, CliResult<ApiAnswer> answer) {
  auto body = ApiClient::body_of(std::move(answer));
  if (!body) return report(body.error());
  if (c.json) {
    print(*body + "\n");
    return kOk;
  }
  auto doc = parse(*body);
  if (!doc) return report(doc.error());
  print(format_record(*doc));
  return kOk;
}

struct ListRequest {
  std::string path;                                        // "/v1/jobs"
  std::vector<std::pair<std::string, std::string>> query;  // filters; empty values left out
  int limit = 50;                                          // items wanted, over as many pages
  std::string cursor;                                      // where to start; empty: the first page
  Table (*table)(const json&) = nullptr;
};

// Follows next_cursor until `limit` items are in or the list ends. The first page's object with
// every page's items in "data" and the last next_cursor.
CliResult<json> fetch_list(ApiClient& api, const ListRequest& r) {
  json merged;
  json items = json::array();
  std::string cursor = r.cursor;
  do {
    const int want = std::min(kMaxPage, r.limit - static_cast<int>(items.size()));
    std::string path = r.path + "?limit=" + std::to_string(want);
    for (const auto& [name, value] : r.query) {
      if (!value.empty()) path += "&" + name + "=" + bank::percent_encode(value);
    }
    if (!cursor.empty()) path += "&cursor=" + bank::percent_encode(cursor);
    auto body = ApiClient::body_of(api.get(path));
    if (!body) return std::unexpected(body.error());
    auto page = parse(*body);
    if (!page) return page;
    if (!page->is_object() || !(*page)["data"].is_array()) {
      return std::unexpected(CliError{kUnavailable, "the server's list has no \"data\" array"});
    }
    for (json& item : (*page)["data"]) items.push_back(std::move(item));
    const json& next = (*page)["next_cursor"];
    cursor = next.is_string() ? next.get<std::string>() : std::string();
    if (merged.is_null()) merged = std::move(*page);
    merged["next_cursor"] = cursor.empty() ? json(nullptr) : json(cursor);
  } while (!cursor.empty() && static_cast<int>(items.size()) < r.limit);
  merged["data"] = std::move(items);
  return merged;
}

int list(const Connection& c, const ListRequest& r) {
  if (r.limit < 1) return report({kUsage, "--limit must be at least 1"});
  auto api = connect(c);
  if (!api) return report(api.error());
  auto merged = fetch_list(**api, r);
  if (!merged) return report(merged.error());
  if (c.json) {
    print(merged->dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    return kOk;
  }
  print(format_table(r.table((*merged)["data"])));
  if (const json& next = (*merged)["next_cursor"]; next.is_string()) {
    std::fprintf(stderr, "more: --cursor %s\n", next.get<std::string>().c_str());
  }
  return kOk;
}

int get(const Connection& c, const std::string& path) {
  auto api = connect(c);
  if (!api) return report(api.error());
  return show_record(c, (*api)->get(path));
}

int post(const Connection& c, const std::string& path) {
  auto api = connect(c);
  if (!api) return report(api.error());
  return show_record(c, (*api)->post(path));
}

std::string with_id(const char* prefix, const std::string& id, const char* suffix = "") {
  return std::string(prefix) + bank::percent_encode(id) + suffix;
}

}  // namespace

struct OperatorCommands::State {
  Connection conn;
  std::string id;
  std::string status, result, transfer, settlement_status, cursor;
  int limit = 50;
  bool force = false;
  std::string config_file;
  bool probe = false;
  std::vector<std::pair<CLI::App*, std::function<int()>>> actions;

  // A leaf subcommand that talks to the server, with the connection options.
  CLI::App* api_command(CLI::App& parent, const std::string& name, const std::string& help,
                        std::function<int()> action) {
    CLI::App* cmd = parent.add_subcommand(name, help);
    cmd->add_option("--url", conn.url, "Server URL (default: RT_URL, else http://127.0.0.1:8080)");
    cmd->add_option("--token", conn.token, "API token (default: RT_API_TOKEN)");
    cmd->add_flag("--json", conn.json, "Print the API's JSON instead of a table");
    cmd->add_option("--timeout", conn.timeout_s, "Seconds to wait for each answer")
        ->check(CLI::Range(1, 3600));
    actions.emplace_back(cmd, std::move(action));
    return cmd;
  }
  CLI::App* with_id_arg(CLI::App* cmd, const std::string& what) {
    cmd->add_option("id", id, what)->required();
    return cmd;
  }
  CLI::App* with_paging(CLI::App* cmd) {
    cmd->add_option("--limit", limit, "Items to show, over as many pages as needed (default 50)");
    cmd->add_option("--cursor", cursor, "Start at this next_cursor of an earlier list");
    return cmd;
  }
};

OperatorCommands::OperatorCommands(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;

  CLI::App* transfers = app.add_subcommand("transfers", "Recurring transfers on a running server");
  transfers->require_subcommand(1);
  auto* tl = s.with_paging(s.api_command(*transfers, "list", "List recurring transfers", [&s] {
    return list(
        s.conn,
        {"/v1/recurring-transfers", {{"status", s.status}}, s.limit, s.cursor, transfers_table});
  }));
  tl->add_option("--status", s.status, "ACTIVE, PAUSED, CANCELLED or COMPLETED");
  s.with_id_arg(
      s.api_command(*transfers, "get", "Show one recurring transfer",
                    [&s] { return get(s.conn, with_id("/v1/recurring-transfers/", s.id)); }),
      "Transfer id");
  for (const char* verb : {"pause", "resume", "cancel"}) {
    s.with_id_arg(s.api_command(*transfers, verb, std::string(verb) + " a recurring transfer",
                                [&s, verb] {
                                  return post(s.conn, with_id("/v1/recurring-transfers/", s.id,
                                                              (std::string("/") + verb).c_str()));
                                }),
                  "Transfer id");
  }

  CLI::App* jobs = app.add_subcommand("jobs", "Jobs (one execution each) on a running server");
  jobs->require_subcommand(1);
  auto* jl = s.with_paging(s.api_command(*jobs, "list", "List jobs", [&s] {
    return list(s.conn, {"/v1/jobs",
                         {{"status", s.status},
                          {"result", s.result},
                          {"settlement_status", s.settlement_status},
                          {"recurring_transfer_id", s.transfer}},
                         s.limit,
                         s.cursor,
                         jobs_table});
  }));
  jl->add_option("--status", s.status, "PENDING, IN_FLY, PROCESSING, RETRY, FINISHED, FAILED, ...");
  jl->add_option("--result", s.result, "SUCCEEDED, DECLINED or RETURNED");
  jl->add_option("--settlement-status", s.settlement_status, "pending, settled, returned, ...");
  jl->add_option("--transfer", s.transfer, "Only this recurring transfer's jobs");
  s.with_id_arg(s.api_command(*jobs, "get", "Show one job",
                              [&s] { return get(s.conn, with_id("/v1/jobs/", s.id)); }),
                "Job id");
  s.with_id_arg(s.api_command(*jobs, "retry", "Give a FAILED job another round of retries",
                              [&s] { return post(s.conn, with_id("/v1/jobs/", s.id, "/retry")); }),
                "Job id");
  s.with_id_arg(s.api_command(*jobs, "skip", "Skip a job that has not run",
                              [&s] { return post(s.conn, with_id("/v1/jobs/", s.id, "/skip")); }),
                "Job id");

  CLI::App* backups = app.add_subcommand(
      "backups", "Backup runs on a running server (`rtjobs backup run` runs one in-process)");
  backups->require_subcommand(1);
  auto* bl = s.api_command(*backups, "list", "List the backups taken", [&s] {
    return list(s.conn, {"/v1/backups", {}, s.limit, {}, backups_table});
  });
  bl->add_option("--limit", s.limit, "Backups to show (default 50)");
  auto* br = s.api_command(*backups, "run", "Start a backup-and-delete run and follow it", [&s] {
    auto api = connect(s.conn);
    if (!api) return report(api.error());
    return run_backup(**api, s.force, s.conn.json);
  });
  br->add_flag("--force", s.force, "Skip the RT_MONTHLY_BACKUP months check");

  CLI::App* check = app.add_subcommand(
      "check-config", "Validate a configuration as serve does; --probe calls each provider");
  check->add_option("--config", s.config_file, "TOML configuration file (overrides RT_CONFIG)");
  check->add_flag("--probe", s.probe, "Make one harmless authenticated read of each provider");
  s.actions.emplace_back(check, [&s] { return check_config(s.config_file, s.probe); });
}

OperatorCommands::~OperatorCommands() = default;

std::optional<int> OperatorCommands::run() {
  for (const auto& [cmd, action] : state_->actions) {
    if (*cmd) return action();
  }
  return std::nullopt;
}

}  // namespace rtjobs::cli
