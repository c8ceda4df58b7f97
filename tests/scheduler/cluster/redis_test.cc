// Copyright 2026 Azimuth authors.
//
// RedisConnection against a real redis-server: replies of every type,
// pipelines, ACL authentication, TLS (and a certificate it must refuse),
// and the failures a replica must survive: nothing listening, a server that
// never answers, a server that goes away.
#include "scheduler/cluster/redis.h"

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/scheduler/processes.h"

namespace azimuth::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

RedisOptions Local(int port) {
  RedisOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  return o;
}

TEST(RedisTest, RepliesOfEveryTypeAndPipelines) {
  const fs::path dir = TempDir("azimuth-redis-test");
  RedisServer redis(dir);
  ASSERT_TRUE(redis.Start());
  absl::StatusOr<std::unique_ptr<RedisConnection>> c = RedisConnection::Connect(Local(redis.port()));
  ASSERT_TRUE(c.ok()) << c.status();
  RedisConnection& r = **c;

  // Binary-safe: a value with NUL, CR and LF in it comes back whole.
  const std::string value("a\0b\r\nc", 6);
  ASSERT_EQ(r.Command({"SET", "k", value})->type, RedisReply::Type::kStatus);
  absl::StatusOr<RedisReply> got = r.Command({"GET", "k"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->type, RedisReply::Type::kString);
  EXPECT_EQ(got->str, value);
  EXPECT_TRUE(r.Command({"GET", "missing"})->is_nil());
  EXPECT_EQ(r.Command({"INCRBY", "n", "41"})->integer, 41);
  absl::StatusOr<RedisReply> error = r.Command({"INCR", "k"});
  ASSERT_TRUE(error.ok()) << "an error reply is a reply, not a broken connection";
  EXPECT_TRUE(error->is_error());
  EXPECT_TRUE(r.ok());

  absl::StatusOr<std::vector<RedisReply>> p =
      r.Pipeline({{"RPUSH", "l", "x", "y"}, {"LRANGE", "l", "0", "-1"}, {"INCR", "n"}});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].integer, 2);
  ASSERT_EQ((*p)[1].type, RedisReply::Type::kArray);
  ASSERT_EQ((*p)[1].elements.size(), 2u);
  EXPECT_EQ((*p)[1].elements[1].str, "y");
  EXPECT_EQ((*p)[2].integer, 42);
}

TEST(RedisTest, AclUsersAndPasswords) {
  const fs::path dir = TempDir("azimuth-redis-acl-test");
  RedisServer redis(dir, {"--user", "azimuth", "on", ">s3cret", "~*", "&*", "+@all", "--user", "default", "off"});
  ASSERT_TRUE(redis.Start());
  RedisOptions o = Local(redis.port());
  o.username = "azimuth";
  o.password = "s3cret";
  absl::StatusOr<std::unique_ptr<RedisConnection>> c = RedisConnection::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Command({"PING"})->str, "PONG");

  o.password = "wrong";
  c = RedisConnection::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnauthenticated) << c.status();
  EXPECT_NE(c.status().message().find("AUTH refused"), std::string::npos) << c.status();

  // No credentials: the default user is off, so every command is refused.
  c = RedisConnection::Connect(Local(redis.port()));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->Command({"PING"})->is_error());
}

TEST(RedisTest, TlsVerifiesTheServer) {
  const fs::path dir = TempDir("azimuth-redis-tls-test");
  MakeCertificates(dir);
  const int port = FreePort();
  RedisServer redis(dir, {"--port", "0", "--tls-port", std::to_string(port), "--tls-cert-file",
                          (dir / "server.pem").string(), "--tls-key-file", (dir / "server.key").string(),
                          "--tls-ca-cert-file", (dir / "ca.pem").string(), "--tls-auth-clients", "no"});
  ASSERT_TRUE(redis.Start());
  RedisOptions o = Local(port);
  o.tls = true;
  o.ca_file = (dir / "ca.pem").string();
  absl::StatusOr<std::unique_ptr<RedisConnection>> c = RedisConnection::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Command({"PING"})->str, "PONG");
  // A value larger than one TLS record.
  const std::string big(100000, 'z');
  ASSERT_TRUE((*c)->Command({"SET", "big", big}).ok());
  EXPECT_EQ((*c)->Command({"GET", "big"})->str, big);

  // Not the certificate's name, or not its CA: refused.
  o.server_name = "redis.example.com";
  c = RedisConnection::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("TLS handshake failed"), std::string::npos) << c.status();
  o.server_name.clear();
  o.ca_file = (dir / "server.pem").string();
  EXPECT_FALSE(RedisConnection::Connect(o).ok());
}

TEST(RedisTest, FailuresAreBoundedAndReported) {
  // Nothing listens.
  absl::StatusOr<std::unique_ptr<RedisConnection>> c = RedisConnection::Connect(Local(FreePort()));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("cannot connect"), std::string::npos) << c.status();

  // Something listens and never answers: the command gives up in time.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  RedisOptions o = Local(ntohs(addr.sin_port));
  o.io_timeout_ms = 200;
  c = RedisConnection::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  const auto start = steady_clock::now();
  absl::StatusOr<RedisReply> r = (*c)->Command({"PING"});
  const auto took = steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status();
  EXPECT_LT(took, milliseconds(5000));
  EXPECT_FALSE((*c)->ok());
  ::close(fd);

  // The server goes away: the next command fails, and a new connection
  // works once it is back.
  const fs::path dir = TempDir("azimuth-redis-restart-test");
  RedisServer redis(dir);
  ASSERT_TRUE(redis.Start());
  c = RedisConnection::Connect(Local(redis.port()));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(redis.Restart());
  EXPECT_FALSE((*c)->Command({"PING"}).ok());
  c = RedisConnection::Connect(Local(redis.port()));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Command({"PING"})->str, "PONG");
}

}  // namespace
}  // namespace azimuth::scheduler
