#pragma once
#include <chrono>
#include <vector>

namespace metaguard {

// A receive timeout on the sockets of the rendezvous store this process hosts on `port`: its
// listening socket (connections accepted later inherit it) and the connections it accepted so
// far. A read that waits longer than `limit` fails, and the store server drops that connection.
//
// Why: LibTorch 1.13's store server waits for a readable socket, then reads a whole request
// with blocking reads on its one thread. A request caught half-sent (a client sends one in
// pieces; the link went down, or the peer was frozen, between two of them) stops the store for
// every rank until TCP gives up, about 15 minutes later, and no rank can then tell who is gone.
// The server reads only after the socket is readable, so a healthy connection never waits
// on a read: only a request cut in the middle runs into the timeout. (PyTorch 2.x's default
// server, on libuv, uses non-blocking sockets: the option changes nothing there.)
// Returns how many sockets it set (0 when none matched: nothing to set is not an error).
int apply_store_read_timeout(int port, std::chrono::milliseconds limit);

// The file descriptors of this process's TCP sockets bound to local `port`: the store server's
// listening socket and the connections it accepted (clients of the store have ephemeral local ports).
std::vector<int> store_server_sockets(int port);

}  // namespace metaguard
