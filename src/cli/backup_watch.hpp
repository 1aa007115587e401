// `rtjobs backups run`: POST /v1/backups (202 with the run), then GET /v1/backups/{id} until the
// run is no longer "running", showing its phase and counts on stderr: a bar redrawn in place
// when stderr is a terminal, else one plain line each time they change. The server writes a
// run's progress about once a second (backup/backup_runs.hpp). The last state goes to stdout
// (--json: the run as GET /v1/backups/{id} answers it). A run that ends "failed" exits kFailed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cli/api_client.hpp"

namespace rtjobs::cli {

int run_backup(ApiClient& api, bool force, bool json);

// "export: 1200 job rows, 0 provider statuses, 0 B uploaded, 0 deleted" from a run's JSON.
std::string progress_text(const nlohmann::json& run);
// "[#####-----------------]" `width` cells wide: the phases done (starting, export, upload,
// verify, delete, record, done), the delete phase by its deleted share of the exported rows.
std::string progress_bar(const nlohmann::json& run, int width);

}  // namespace rtjobs::cli
