#pragma once

namespace metaguard {

// SIGINT and SIGTERM ask a rank to stop at the end of its current step: the request rides
// in the step's all-reduce, so every rank stops at the same step and the report says so.
// A second signal takes the default action (the process ends at once).
void install_stop_signal_handlers();
bool stop_requested();

}  // namespace metaguard
