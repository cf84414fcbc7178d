#pragma once
#include <string>

namespace metaguard {

// How a failure report names the host a rank runs on: its hostname and, when GLOO_SOCKET_IFNAME
// names the interface ranks talk over, that interface's IPv4 address ("node7 at 10.0.0.2 on eth1").
// Hosts that share a hostname (containers, network namespaces) still differ by address.
std::string describe_this_host();

}  // namespace metaguard
