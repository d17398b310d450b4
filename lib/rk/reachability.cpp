#include "rk/reachability.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "rk/resolve.hpp"

namespace rk {
namespace {

// A non-blocking connect to `endpoint`'s first address: the socket, or -1
// when it failed at once (then `refused` says whether the host answered).
// Name resolution is bounded by `deadline` (resolve.hpp).
int start_connect(const Endpoint& endpoint, Clock::time_point deadline, bool& refused) {
  Resolution resolved = resolve_address(endpoint.host, endpoint.port, deadline);
  if (resolved.addresses.empty()) return -1;
  int error = 0;
  int fd = connect_nonblocking(resolved.addresses.front(), error);
  refused = fd < 0 && error == ECONNREFUSED;
  return fd;
}

}  // namespace

std::vector<bool> probe_reachable(const std::vector<Endpoint>& endpoints,
                                  Clock::time_point deadline) {
  std::vector<bool> reached(endpoints.size(), false);
  std::vector<pollfd> pending;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    bool refused = false;
    int fd = start_connect(endpoints[i], deadline, refused);
    if (fd < 0) {
      reached[i] = refused;
      continue;
    }
    pending.push_back({fd, POLLOUT, 0});
    index.push_back(i);
  }
  bool any = std::find(reached.begin(), reached.end(), true) != reached.end();
  std::size_t open = pending.size();
  while (!any && open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    int ready = ::poll(pending.data(), pending.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    for (std::size_t k = 0; k < pending.size(); ++k) {
      if (pending[k].fd < 0 || pending[k].revents == 0) continue;
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(pending[k].fd, SOL_SOCKET, SO_ERROR, &error, &length);
      reached[index[k]] = error == 0 || error == ECONNREFUSED;
      any = any || reached[index[k]];
      ::close(pending[k].fd);
      pending[k].fd = -1;  // poll ignores negative descriptors
      --open;
    }
  }
  for (pollfd& p : pending)
    if (p.fd >= 0) ::close(p.fd);
  return reached;
}

}  // namespace rk
