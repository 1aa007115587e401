// rtjobs command line: `serve` runs the server, `migrate` applies the database migrations,
// `backup run` runs the backup-and-delete once, `restore` loads a backup CSV back, `openapi`
// prints the OpenAPI document that `serve` answers GET /openapi.json with (linted by ctest).
// Exit codes: 0 success, 1 runtime failure (database, bind), 2 invalid configuration or usage,
// 3 `migrate --status` found migrations pending (app/migrate_status.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "app/application.hpp"
#include "app/backup_commands.hpp"
#include "app/migrate_status.hpp"
#include "app/signals.hpp"
#include "cli/operator_commands.hpp"
#include "config/config.hpp"
#include "core/build_info.hpp"
#include "core/log.hpp"
#include "http/routes.hpp"
#include "store/store.hpp"

namespace {

using rtjobs::Config;

std::optional<Config> load_or_report(const std::string& config_file) {
  std::optional<std::string> file;
  if (!config_file.empty()) file = config_file;
  auto config = rtjobs::load_config(file, rtjobs::process_env());
  if (!config) {
    const auto& e = config.error();
    std::fprintf(stderr, "rtjobs: invalid configuration: %s: %s\n", e.field.c_str(),
                 e.message.c_str());
    return std::nullopt;
  }
  rtjobs::log::set_level(config->log_level);
  return std::move(*config);
}

// SIGHUP: the configuration is read again (the file, and the environment the process started
// with) and its log level applied. Nothing else is reloaded: provider credentials come from the
// environment, which a running process cannot be given anew, and the rest is wired into the
// running components; changing them is a (rolling) restart. An invalid file changes nothing.
void reload(const std::string& config_file) {
  std::optional<std::string> file;
  if (!config_file.empty()) file = config_file;
  auto config = rtjobs::load_config(file, rtjobs::process_env());
  if (!config) {
    rtjobs::log::error("configuration not reloaded: invalid",
                       {{"field", config.error().field}, {"error", config.error().message}});
    return;
  }
  rtjobs::log::set_level(config->log_level);
  // At warn, so it shows whatever the new level; the settings only a restart applies are named.
  rtjobs::log::warn("configuration reloaded (SIGHUP)",
                    {{"log_level", config->log_level},
                     {"needs_restart", "every other setting, provider credentials included"}});
}

int serve(const std::string& config_file) {
  rtjobs::block_shutdown_signals();
  auto config = load_or_report(config_file);
  if (!config) return 2;
  if (auto exposed = rtjobs::check_exposure(*config); !exposed) {
    std::fprintf(stderr, "rtjobs: invalid configuration: %s: %s\n", exposed.error().field.c_str(),
                 exposed.error().message.c_str());
    return 2;
  }
  auto app = rtjobs::Application::start(std::move(*config));
  if (!app) {
    const auto& e = app.error();
    if (e.code == rtjobs::ErrorCode::kInvalidArgument && !e.field.empty()) {
      std::fprintf(stderr, "rtjobs: invalid configuration: %s: %s\n", e.field.c_str(),
                   e.message.c_str());
      return 2;
    }
    std::fprintf(stderr, "rtjobs: cannot start: %s\n", e.message.c_str());
    return 1;
  }
  int sig = rtjobs::wait_for_shutdown_signal([&config_file] { reload(config_file); });
  rtjobs::log::info("shutting down", {{"signal", sig}});
  (*app)->stop();
  app->reset();
  rtjobs::log::info("stopped");
  return 0;
}

int migrate(const std::string& config_file) {
  auto config = load_or_report(config_file);
  if (!config) return 2;
  auto store = rtjobs::open_store(config->database_url);
  if (!store) {
    std::fprintf(stderr, "rtjobs: cannot open the database: %s\n", store.error().message.c_str());
    return 1;
  }
  auto report = (*store)->migrate();
  if (!report) {
    std::fprintf(stderr, "rtjobs: migration failed: %s\n", report.error().message.c_str());
    return 1;
  }
  std::string what = report->applied.empty() ? "up to date, nothing applied" : "applied now:";
  for (size_t i = 0; i < report->applied.size(); ++i) {
    what += i == 0 ? " " : ", ";
    what += std::to_string(report->applied[i]);
  }
  std::printf("rtjobs: %s database is at schema version %d (%s)\n",
              std::string((*store)->backend()).c_str(), report->version, what.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App cli{"rtjobs: the jobs server for recurring bank transfers"};
  cli.set_version_flag("--version", "rtjobs " + std::string(rtjobs::build_version()) + " (commit " +
                                        std::string(rtjobs::build_commit()) + ")");
  cli.require_subcommand(1);
  std::string config_file;

  CLI::App* serve_cmd = cli.add_subcommand("serve",
                                           "Run the HTTP API (and the built-in loops) until "
                                           "SIGTERM or SIGINT; SIGHUP reloads the log level");
  serve_cmd->add_option("--config", config_file, "TOML configuration file (overrides RT_CONFIG)");

  CLI::App* migrate_cmd =
      cli.add_subcommand("migrate", "Apply the database migrations of RT_DATABASE_URL and exit");
  migrate_cmd->add_option("--config", config_file, "TOML configuration file (overrides RT_CONFIG)");
  bool migrate_status = false;
  migrate_cmd->add_flag("--status", migrate_status,
                        "List applied and pending migrations, apply nothing (exit 3: pending)");

  CLI::App* backup_cmd =
      cli.add_subcommand("backup", "Back up and delete old jobs (SPEC section 6)");
  backup_cmd->require_subcommand(1);
  CLI::App* backup_run_cmd = backup_cmd->add_subcommand(
      "run", "Run the backup-and-delete now, by the cron's rules, and exit");
  bool force = false;
  backup_run_cmd->add_flag("--force", force, "Skip the RT_MONTHLY_BACKUP months check");
  backup_run_cmd->add_option("--config", config_file, "TOML configuration file");

  CLI::App* restore_cmd = cli.add_subcommand(
      "restore", "Load a backup CSV (file, file:// or s3:// URL) into RT_DATABASE_URL");
  std::string source;
  restore_cmd->add_option("source", source, "The backup object or file")->required();
  restore_cmd->add_option("--config", config_file, "TOML configuration file");

  CLI::App* openapi_cmd = cli.add_subcommand(
      "openapi", "Print the OpenAPI document served at GET /openapi.json and exit");
  rtjobs::cli::OperatorCommands operator_commands(cli);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (auto code = operator_commands.run()) return *code;
  if (*serve_cmd) return serve(config_file);
  if (*migrate_cmd && !migrate_status) return migrate(config_file);
  if (*migrate_cmd) {
    auto config = load_or_report(config_file);
    return config ? rtjobs::run_migrate_status(*config) : 2;
  }
  if (*openapi_cmd) {
    std::string_view doc = rtjobs::http::openapi_document();
    std::fwrite(doc.data(), 1, doc.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  if (*backup_run_cmd || *restore_cmd) {
    auto config = load_or_report(config_file);
    if (!config) return 2;
    return *restore_cmd ? rtjobs::run_restore_command(*config, source)
                        : rtjobs::run_backup_command(*config, force);
  }
  return 2;
} catch (const std::exception& e) {  // a bug: expected failures are values, not exceptions
  std::fprintf(stderr, "rtjobs: fatal: %s\n", e.what());
  return 70;
}
