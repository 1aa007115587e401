// `rtjobs backup run` and `rtjobs restore`: the backup service from the command line. Both
// migrate the database first, print a JSON summary on stdout, and return the exit code
// (0 done, 1 failed, 2 bad usage). Restore shows a progress bar when stderr is a terminal.
#pragma once

#include <string>

#include "config/config.hpp"

namespace rtjobs {

int run_backup_command(const Config& config, bool force);
int run_restore_command(const Config& config, const std::string& source);

}  // namespace rtjobs
