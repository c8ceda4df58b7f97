// Copyright 2026 Azimuth authors.
//
// loopback.h — plain TCP on 127.0.0.1 for the integration tests: a raw
// connection (an idle client) and an HTTP/1.0 GET (a Prometheus scrape).
#ifndef AZIMUTH_TESTS_SCHEDULER_LOOPBACK_H_
#define AZIMUTH_TESTS_SCHEDULER_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace azimuth::scheduler {

// A TCP connection to 127.0.0.1:port, or -1.
inline int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// GET path over HTTP/1.0: the whole response, or "" when nothing answers;
// gives up after `timeout_s` without data.
inline std::string HttpGet(int port, const std::string& path, int timeout_s = 20) {
  const int fd = Connect(port);
  if (fd < 0) return "";
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_TESTS_SCHEDULER_LOOPBACK_H_
