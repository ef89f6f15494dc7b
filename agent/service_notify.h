// systemd's readiness protocol (sd_notify(3)), without libsystemd: when the agent runs as a
// `Type=notify` unit, systemd sets $NOTIFY_SOCKET and waits for a datagram saying READY=1.
// The agent sends it once its sockets listen: from then on every client request is answered
// (while the cluster has no leader yet, with an error that says so). STOPPING=1 when it begins
// to stop. Without $NOTIFY_SOCKET it does nothing.
#pragma once

#include <string>

#include "common/result.h"

namespace conclave::agent {

// Sends `state` (newline-separated VAR=value lines, e.g. "READY=1\nSTATUS=serving") to
// $NOTIFY_SOCKET (a path, or an abstract socket when it starts with '@'). OK when the
// variable is unset.
Status notify_service_manager(const std::string& state);

}  // namespace conclave::agent
