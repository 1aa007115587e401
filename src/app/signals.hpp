// Signals of `rtjobs serve`: SIGTERM and SIGINT stop it, SIGHUP reloads what can be reloaded.
// block_shutdown_signals() must run before any thread starts, so every thread inherits the mask
// and only wait_for_shutdown_signal() sees the signals.
#pragma once

#include <functional>

namespace rtjobs {

void block_shutdown_signals();
// Blocks the calling thread until SIGTERM or SIGINT arrives; returns the signal number. Each
// SIGHUP meanwhile runs `on_reload` on the calling thread (ignored when it is empty).
int wait_for_shutdown_signal(const std::function<void()>& on_reload = {});

}  // namespace rtjobs
