// Executor: where a piece of work runs. Components that must not block their caller (the
// processor, the HTTP handlers) take one for their blocking database work; the application
// backs it with a fixed thread pool, and tests may run work inline.
#pragma once

#include <functional>

namespace rtjobs {

using Task = std::function<void()>;
using Executor = std::function<void(Task)>;

inline Executor inline_executor() {
  return [](const Task& t) { t(); };
}

}  // namespace rtjobs
