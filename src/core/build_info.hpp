// The running binary's version and the commit it was built from (rtjobs --version, /healthz,
// /metrics rtjobs_build_info). The commit is read when CMake configures the build (scripts/build.sh
// configures on every run), with "-dirty" when tracked files differed from it; "unknown" outside
// a git checkout.
#pragma once

#include <string_view>

namespace rtjobs {

std::string_view build_version();
std::string_view build_commit();

}  // namespace rtjobs
