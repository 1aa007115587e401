#include "cli/backup_watch.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <string_view>
#include <thread>

#include "cli/table.hpp"

namespace rtjobs::cli {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 7> kPhases = {"starting", "export", "upload", "verify",
                                                     "delete",   "record", "done"};
constexpr std::chrono::milliseconds kPoll{250};

int64_t count(const json& run, const char* key) {
  auto p = run.find("progress");
  if (p == run.end() || !p->is_object()) return 0;
  auto it = p->find(key);
  return it != p->end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string text_of(const json& run, const char* key) {
  auto it = run.find(key);
  return it != run.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string bytes_text(int64_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  } else if (bytes < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024 * 1024));
  }
  return buf;
}

int fail_with(const CliError& e) {
  std::fprintf(stderr, "rtjobs: %s\n", e.message.c_str());
  return e.code;
}

CliResult<json> read_run(CliResult<ApiAnswer> answer) {
  auto body = ApiClient::body_of(std::move(answer));
  if (!body) return std::unexpected(body.error());
  json run = json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (!run.is_object() || text_of(run, "id").empty() || text_of(run, "status").empty()) {
    return std::unexpected(CliError{kUnavailable, "the server's answer is not a backup run"});
  }
  return run;
}

}  // namespace

std::string progress_text(const json& run) {
  std::string phase = text_of(run, "phase");
  return (phase.empty() ? "?" : phase) + ": " + std::to_string(count(run, "job_rows")) +
         " job rows, " + std::to_string(count(run, "provider_status_rows")) +
         " provider statuses, " + bytes_text(count(run, "uploaded_bytes")) + " uploaded, " +
         std::to_string(count(run, "deleted_job_rows")) + " deleted";
}

std::string progress_bar(const json& run, int width) {
  const std::string phase = text_of(run, "phase");
  double done = 0;
  for (size_t i = 0; i < kPhases.size(); ++i) {
    if (kPhases[i] == phase) done = static_cast<double>(i);
  }
  if (phase == "delete" && count(run, "job_rows") > 0) {
    done += static_cast<double>(count(run, "deleted_job_rows")) /
            static_cast<double>(count(run, "job_rows"));
  }
  if (text_of(run, "status") == "succeeded") done = kPhases.size() - 1;
  const int filled =
      std::min(width, static_cast<int>(width * done / static_cast<double>(kPhases.size() - 1)));
  // Appended, not "[" + ...: GCC 12 warns falsely there at -O3 (-Wrestrict, GCC bug 105329).
  std::string bar = "[";
  bar.append(filled, '#').append(width - filled, '-').append("]");
  return bar;
}

int run_backup(ApiClient& api, bool force, bool json_output) {
  auto run = read_run(api.post("/v1/backups", force ? R"({"force":true})" : "{}"));
  if (!run) return fail_with(run.error());
  const std::string id = text_of(*run, "id");
  const bool terminal = isatty(fileno(stderr)) == 1;
  std::string shown;
  while (true) {
    std::string line = progress_text(*run);
    if (terminal) {
      std::fprintf(stderr, "\r%s %s\033[K", progress_bar(*run, 24).c_str(), line.c_str());
    } else if (line != shown) {
      std::fprintf(stderr, "backup run %s: %s\n", id.c_str(), line.c_str());
    }
    shown = line;
    if (text_of(*run, "status") != "running") break;
    std::this_thread::sleep_for(kPoll);  // the server writes progress about once a second
    run = read_run(api.get("/v1/backups/" + id));
    if (!run) {
      if (terminal) std::fputc('\n', stderr);
      return fail_with(run.error());
    }
  }
  if (terminal) std::fputc('\n', stderr);
  std::string out = json_output ? run->dump(-1, ' ', false, json::error_handler_t::replace) + "\n"
                                : format_record(*run);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (text_of(*run, "status") == "failed") {
    return fail_with({kFailed, "backup run " + id + " failed: " + text_of(*run, "error")});
  }
  return kOk;
}

}  // namespace rtjobs::cli
