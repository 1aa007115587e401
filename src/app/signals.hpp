// Shutdown signals (SIGTERM, SIGINT) for the foreground commands. block_shutdown_signals()
// must run before any thread starts, so every thread inherits the mask and only
// wait_for_shutdown_signal() sees the signals.
#pragma once

namespace rtjobs {

void block_shutdown_signals();
// Blocks the calling thread until SIGTERM or SIGINT arrives; returns the signal number.
int wait_for_shutdown_signal();

}  // namespace rtjobs
