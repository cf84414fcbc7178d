#pragma once
#include <chrono>
#include <vector>

namespace metaguard {

// TCP keepalive and a user timeout for the rendezvous store this process hosts on `port`: its
// listening socket (connections accepted later inherit both) and the connections it accepted
// so far. A peer whose kernel acknowledges nothing for `dead_after` (its host is down or its
// link cut) loses its connection to the store.
//
// Why: LibTorch 1.13's store server reads each request with blocking reads on one thread, so a
// request caught half-sent by a cut link stops the store for every rank until TCP gives up
// (about 15 minutes); no rank can then tell who is gone. With these options the half-read
// connection fails after `dead_after`, the server drops it and serves the others again.
// Returns how many sockets it set (0 when none matched: nothing to harden is not an error).
int apply_store_keepalive(int port, std::chrono::seconds dead_after);

// The file descriptors of this process's TCP sockets bound to local `port`: the store server's
// listening socket and the connections it accepted (clients of the store have ephemeral local ports).
std::vector<int> store_server_sockets(int port);

}  // namespace metaguard
