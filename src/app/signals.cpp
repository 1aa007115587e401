#include "app/signals.hpp"

#include <pthread.h>
#include <signal.h>

namespace rtjobs {
namespace {

sigset_t shutdown_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void block_shutdown_signals() {
  sigset_t set = shutdown_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A client closing its connection mid-write must not kill the server.
  signal(SIGPIPE, SIG_IGN);
}

int wait_for_shutdown_signal(const std::function<void()>& on_reload) {
  sigset_t set = shutdown_set();
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    if (on_reload) on_reload();
  }
}

}  // namespace rtjobs
