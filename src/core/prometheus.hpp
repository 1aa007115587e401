// Prometheus text exposition: a label value escaped as the format requires (backslash, double
// quote and line feed), shared by every metrics renderer.
#pragma once

#include <string>
#include <string_view>

namespace rtjobs {

inline std::string prometheus_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace rtjobs
