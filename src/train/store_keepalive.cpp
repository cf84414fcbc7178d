#include "train/store_keepalive.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace metaguard {
namespace {

// The local port of a TCP socket, -1 for anything else.
int local_tcp_port(int fd) {
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) return -1;
  int type = 0;
  socklen_t type_size = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_size) != 0 || type != SOCK_STREAM) return -1;
  sockaddr_storage address{};
  socklen_t address_size = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_size) != 0) return -1;
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return -1;
}

}  // namespace

std::vector<int> store_server_sockets(int port) {
  std::vector<int> candidates;
  DIR* directory = opendir("/proc/self/fd");
  if (directory == nullptr) return {};
  const int own = dirfd(directory);
  while (const dirent* entry = readdir(directory)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd != own) candidates.push_back(fd);
  }
  closedir(directory);
  std::vector<int> sockets;
  for (int fd : candidates) {
    if (local_tcp_port(fd) == port) sockets.push_back(fd);
  }
  return sockets;
}

int apply_store_keepalive(int port, std::chrono::seconds dead_after) {
  const int seconds = static_cast<int>(std::max<std::chrono::seconds::rep>(1, dead_after.count()));
  const int on = 1;
  const int probe_every = 1;
  const unsigned int user_timeout_ms = static_cast<unsigned int>(seconds) * 1000U;
  int applied = 0;
  for (int fd : store_server_sockets(port)) {
    // Probes start after a second of silence, one a second; the user timeout also covers a
    // reply of the store's own that the cut left unacknowledged (keepalive waits on idle only).
    const bool set = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == 0 &&
                     setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &probe_every, sizeof(probe_every)) == 0 &&
                     setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &probe_every, sizeof(probe_every)) == 0 &&
                     setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &seconds, sizeof(seconds)) == 0 &&
                     setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms)) == 0;
    if (set) ++applied;
  }
  return applied;
}

}  // namespace metaguard
