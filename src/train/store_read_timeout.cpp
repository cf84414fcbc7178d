#include "train/store_read_timeout.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cstdlib>

namespace metaguard {
namespace {

// Every file descriptor this process has open (but the directory's own).
std::vector<int> open_descriptors() {
  std::vector<int> fds;
  DIR* directory = opendir("/proc/self/fd");
  if (directory == nullptr) return fds;
  const int own = dirfd(directory);
  while (const dirent* entry = readdir(directory)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd != own) fds.push_back(fd);
  }
  closedir(directory);
  return fds;
}

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
  std::vector<int> sockets;
  for (int fd : open_descriptors()) {
    if (local_tcp_port(fd) == port) sockets.push_back(fd);
  }
  return sockets;
}

int apply_store_read_timeout(int port, std::chrono::milliseconds limit) {
  timeval timeout{};
  timeout.tv_sec = static_cast<time_t>(limit.count() / 1000);
  timeout.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
  int applied = 0;
  // Checked and set one descriptor at a time: one the store closes meanwhile and this process
  // opens again for something else is checked again before it is set.
  for (int fd : open_descriptors()) {
    if (local_tcp_port(fd) == port && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) == 0) {
      ++applied;
    }
  }
  return applied;
}

}  // namespace metaguard
