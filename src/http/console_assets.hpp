// The operator console's files (console/ in the source tree), compiled into the binary by
// cmake/embed_console.cmake: the console needs no files beside the binary and nothing from the
// internet. Immutable, static data; safe from any thread.
#pragma once

#include <span>
#include <string_view>

namespace rtjobs::http {

struct ConsoleAsset {
  std::string_view name;          // "index.html", "app.js": served at /console/<name>
  std::string_view content_type;  // from the file's extension
  std::string_view etag;          // quoted hash of the bytes: changes with every edit
  std::string_view body;
};

// Every file, sorted by name.
std::span<const ConsoleAsset> console_assets();

}  // namespace rtjobs::http
