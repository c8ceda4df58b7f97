// Copyright 2026 Azimuth authors.
//
// config.h — azimuthd's configuration: the `azimuth.v1.ServerConfig` message
// in its protobuf JSON mapping, its defaults, and the embedded demo config
// that azimuthd runs with no arguments (docs/design.md's example policy and the
// built-in Azure/AWS/GCP endpoints).
#ifndef AZIMUTH_SCHEDULER_SERVER_CONFIG_H_
#define AZIMUTH_SCHEDULER_SERVER_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/v1/config.pb.h"
#include "scheduler/cluster/cluster.h"
#include "scheduler/core/telemetry_store.h"

namespace azimuth::scheduler {

// ParseConfig() / ReadConfig()
//
// INVALID_ARGUMENT naming the source and the field; unknown fields are
// errors. Defaults are filled in (WithDefaults()).
absl::StatusOr<v1::ServerConfig> ParseConfig(const std::string& json, const std::string& source);
absl::StatusOr<v1::ServerConfig> ReadConfig(const std::string& path);

// WithDefaults()
//
// Every unset field takes its documented default (config.proto).
v1::ServerConfig WithDefaults(v1::ServerConfig config);

// DemoConfig()
//
// The embedded default: WithDefaults() plus 64 built-in endpoints, pinned.
// `endpoints` sets another footprint size (the workload generator's, with
// quotas sized for 200,000 requests a minute): benchmarks use it.
v1::ServerConfig DemoConfig(int endpoints = 64);

// CheckedConfig
//
// A config whose policy and endpoints passed validation.
struct CheckedConfig {
  v1::ServerConfig config;
  kernels::PolicyData policy;
  std::vector<EndpointSample> endpoints;
};
absl::StatusOr<CheckedConfig> CheckConfig(const v1::ServerConfig& config, const std::string& source);

// ReadTokens()
//
// One bearer token per line; blank lines and '#' comments skipped.
absl::StatusOr<std::vector<std::string>> ReadTokens(const std::string& path);

std::string ConfigJson(const v1::ServerConfig& config);

// ClusterOptionsFromConfig()
//
// The cluster section (redis_address set, CheckConfig() passed) as the
// Cluster takes it: the password read from its file, the replica id and the
// advertised address defaulted from the pod ($POD_NAME, $POD_IP) or the host,
// with `tcp_port`.
absl::StatusOr<ClusterOptions> ClusterOptionsFromConfig(const v1::ServerConfig& config, int tcp_port);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_SERVER_CONFIG_H_
