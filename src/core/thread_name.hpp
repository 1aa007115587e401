// Names the calling thread (as top -H, ps -L and perf show it), cut to Linux's 15 characters.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace rtjobs {

inline void name_this_thread(std::string_view name) {
  std::string cut(name.substr(0, 15));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace rtjobs
