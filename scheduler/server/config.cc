// Copyright 2026 Azimuth authors.
#include "scheduler/server/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/workload/generator.h"
#include "scheduler/common/io.h"
#include "scheduler/common/policy.h"
#include "scheduler/common/status.h"
#include "scheduler/service/convert.h"

namespace azimuth::scheduler {

absl::StatusOr<v1::ServerConfig> ParseConfig(const std::string& json, const std::string& source) {
  v1::ServerConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &config, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a valid azimuth.v1.ServerConfig: ", parsed.message().as_string()));
  }
  return WithDefaults(std::move(config));
}

absl::StatusOr<v1::ServerConfig> ReadConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path, "config file");
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

v1::ServerConfig WithDefaults(v1::ServerConfig c) {
  if (c.listen().empty()) c.set_listen("0.0.0.0:50051");
  if (c.metrics_listen().empty()) c.set_metrics_listen("0.0.0.0:9464");
  if (!c.has_policy()) {
    *c.mutable_policy() = PolicyToProto(DefaultPolicy());
    c.mutable_policy()->set_now(0);
  }
  v1::BatcherConfig* b = c.mutable_batcher();
  if (b->max_batch_requests() == 0) b->set_max_batch_requests(65536);
  if (b->max_delay_ms() == 0) b->set_max_delay_ms(2);
  if (b->max_queue_requests() == 0) b->set_max_queue_requests(1 << 20);
  if (b->online_max_requests() == 0) b->set_online_max_requests(1);
  if (b->max_message_requests() == 0) b->set_max_message_requests(4 << 20);
  if (b->warm_iterations() == 0) b->set_warm_iterations(60);
  if (b->repair_target_gap() == 0) b->set_repair_target_gap(1e-4);
  if (b->warm_target_gap() == 0) b->set_warm_target_gap(5e-4);
  if (c.backend().empty()) c.set_backend("auto");
  if (c.explain_history() == 0) c.set_explain_history(262144);
  if (c.explain_history_bytes() == 0) c.set_explain_history_bytes(std::int64_t{64} << 20);
  if (c.drain_timeout_s() == 0) c.set_drain_timeout_s(20);
  if (c.max_message_bytes() == 0) c.set_max_message_bytes(256 << 20);
  if (!c.cluster().redis_address().empty()) {
    v1::ClusterConfig* k = c.mutable_cluster();
    if (k->key_prefix().empty()) k->set_key_prefix("{azimuth}:");
    if (k->sync_interval_ms() == 0) k->set_sync_interval_ms(100);
    if (k->lease_horizon_s() == 0) k->set_lease_horizon_s(1);
    if (k->redis_timeout_ms() == 0) k->set_redis_timeout_ms(250);
    if (k->recovery_grace_s() == 0) k->set_recovery_grace_s(5);
  }
  return c;
}

namespace {

// "host:port" (host may be a bracketed IPv6 address).
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = address.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return absl::SimpleAtoi(address.substr(colon + 1), port) && *port > 0 && *port < 65536;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

}  // namespace

absl::StatusOr<ClusterOptions> ClusterOptionsFromConfig(const v1::ServerConfig& config, int tcp_port) {
  const v1::ClusterConfig& k = config.cluster();
  ClusterOptions o;
  if (!SplitHostPort(k.redis_address(), &o.redis.host, &o.redis.port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("field 'cluster.redis_address': '", k.redis_address(), "' is not host:port"));
  }
  o.redis.tls = k.tls();
  o.redis.ca_file = k.tls_ca_file();
  o.redis.server_name = k.tls_server_name();
  o.redis.cert_file = k.tls_cert_file();
  o.redis.key_file = k.tls_key_file();
  o.redis.username = k.username();
  o.redis.io_timeout_ms = k.redis_timeout_ms();
  o.redis.connect_timeout_ms = std::max(1000, k.redis_timeout_ms());
  if (!k.password_file().empty()) {
    AZ_ASSIGN_OR_RETURN(std::string text, ReadTextFile(k.password_file(), "cluster.password_file"));
    const std::vector<std::string> lines = absl::StrSplit(text, '\n');
    o.redis.password = std::string(absl::StripAsciiWhitespace(lines.front()));
    if (o.redis.password.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field 'cluster.password_file': ", k.password_file(), " has no password on its first line"));
    }
  }
  o.key_prefix = k.key_prefix();
  o.replica_id =
      !k.replica_id().empty() ? k.replica_id() : EnvOr("POD_NAME", absl::StrCat(HostName(), "-", ::getpid()));
  o.advertise_address =
      !k.advertise_address().empty() ? k.advertise_address() : absl::StrCat(EnvOr("POD_IP", HostName()), ":", tcp_port);
  o.interval = std::chrono::milliseconds(k.sync_interval_ms());
  o.lease_horizon_s = k.lease_horizon_s();
  o.recovery_grace_s = k.recovery_grace_s();
  return o;
}

v1::ServerConfig DemoConfig(int endpoints) {
  v1::ServerConfig c = WithDefaults({});
  // Capacities are sized for the demand of this many requests per minute.
  bench::WorkloadSpec spec;
  spec.requests = 200000;
  spec.endpoints = endpoints;
  spec.unhealthy = 0;
  const kernels::ProblemData demo = bench::GenerateWorkload(spec);
  for (std::size_t p = 0; p < demo.num_endpoints(); ++p) {
    *c.add_endpoints() = ToProto(EndpointSampleAt(demo, p));
  }
  return c;
}

absl::StatusOr<CheckedConfig> CheckConfig(const v1::ServerConfig& config, const std::string& source) {
  CheckedConfig out;
  out.config = config;
  auto bad = [&](const std::string& field, const std::string& reason) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "': ", reason));
  };
  absl::StatusOr<kernels::PolicyData> policy = PolicyFromProto(config.policy(), absl::StrCat(source, ": policy"));
  if (!policy.ok()) return policy.status();
  out.policy = *std::move(policy);
  for (int i = 0; i < config.endpoints_size(); ++i) {
    absl::StatusOr<EndpointSample> s = FromProto(config.endpoints(i));
    if (!s.ok()) return bad(absl::StrCat("endpoints[", i, "]"), std::string(s.status().message()));
    out.endpoints.push_back(*std::move(s));
  }
  const v1::BatcherConfig& b = config.batcher();
  if (b.max_batch_requests() < 1) return bad("batcher.max_batch_requests", "must be >= 1");
  if (!(b.max_delay_ms() >= 0 && b.max_delay_ms() <= 10000))
    return bad("batcher.max_delay_ms", "must be in [0, 10000]");
  if (b.max_queue_requests() < 1) return bad("batcher.max_queue_requests", "must be >= 1");
  if (b.online_max_requests() < 0) return bad("batcher.online_max_requests", "must be >= 0");
  if (b.max_message_requests() < 1) return bad("batcher.max_message_requests", "must be >= 1");
  if (b.warm_iterations() < 1) return bad("batcher.warm_iterations", "must be >= 1");
  if (b.repair_rounds() < -1 || b.repair_rounds() > 8) {
    return bad("batcher.repair_rounds", "must be -1 (none), 0 (automatic) or 1 to 8");
  }
  if (!(b.repair_target_gap() <= 1)) return bad("batcher.repair_target_gap", "must be a number <= 1");
  if (!(b.warm_target_gap() <= 1)) return bad("batcher.warm_target_gap", "must be a number <= 1");
  if (absl::Status backend = ParseBackend(config.backend()).status(); !backend.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field ", backend.message()));
  }
  if (config.explain_history() < 0) return bad("explain_history", "must be >= 0");
  if (config.explain_history_bytes() < 0) return bad("explain_history_bytes", "must be >= 0");
  if (config.drain_timeout_s() < 0) return bad("drain_timeout_s", "must be >= 0");
  if (config.max_message_bytes() < 1024) return bad("max_message_bytes", "must be at least 1024");
  const v1::TlsConfig& tls = config.tls();
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return bad("tls", "cert_file and key_file go together");
  }
  if (!tls.client_ca_file().empty() && tls.cert_file().empty()) {
    return bad("tls.client_ca_file", "mutual TLS needs cert_file and key_file too");
  }
  if (config.listen() == "none" && config.unix_socket().empty()) {
    return bad("listen", "with no TCP address a unix_socket is needed");
  }
  if (const v1::ClusterConfig& k = config.cluster(); !k.redis_address().empty()) {
    std::string host;
    int port = 0;
    if (!SplitHostPort(k.redis_address(), &host, &port)) return bad("cluster.redis_address", "must be host:port");
    if (k.sync_interval_ms() < kMinSyncIntervalMs || k.sync_interval_ms() > kMaxSyncIntervalMs) {
      return bad("cluster.sync_interval_ms",
                 absl::StrCat("must be in [", kMinSyncIntervalMs, ", ", kMaxSyncIntervalMs, "]"));
    }
    if (!(k.lease_horizon_s() > 0 && k.lease_horizon_s() <= 60)) {
      return bad("cluster.lease_horizon_s", "must be in (0, 60]");
    }
    if (k.redis_timeout_ms() < 1 || k.redis_timeout_ms() > 60000) {
      return bad("cluster.redis_timeout_ms", "must be in [1, 60000]");
    }
    if (!(k.recovery_grace_s() >= 0 && k.recovery_grace_s() <= 3600)) {
      return bad("cluster.recovery_grace_s", "must be in [0, 3600]");
    }
    if (k.tls_cert_file().empty() != k.tls_key_file().empty()) {
      return bad("cluster.tls_cert_file", "tls_cert_file and tls_key_file go together");
    }
    // Empty: defaulted from the pod (ClusterOptionsFromConfig()).
    if (!k.replica_id().empty() && !ValidReplicaId(k.replica_id())) {
      return bad("cluster.replica_id", "must not contain spaces or '|'");
    }
  } else if (k.tls() || !k.password_file().empty() || !k.replica_id().empty()) {
    return bad("cluster.redis_address", "required when other cluster fields are set");
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ReadTokens(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path, "token file");
  if (!text.ok()) return text.status();
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    absl::string_view t = absl::StripAsciiWhitespace(line);
    if (t.empty() || t[0] == '#') continue;
    tokens.emplace_back(t);
  }
  if (tokens.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no tokens in the file"));
  return tokens;
}

std::string ConfigJson(const v1::ServerConfig& config) { return MessageJson(config); }

}  // namespace azimuth::scheduler
