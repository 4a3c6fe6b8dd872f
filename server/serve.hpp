#pragma once

#include "server/config.hpp"

namespace authd::server {

// Migrates, then serves HTTP until SIGINT or SIGTERM, then drains. Returns the exit code:
// 0 after a clean drain, 1 when start-up failed, 2 for an unusable TLS certificate or key.
int serve(const Config& config);

}  // namespace authd::server
