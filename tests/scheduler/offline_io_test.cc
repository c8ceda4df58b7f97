// Copyright 2026 Azimuth authors.
//
// The offline interchange files: docs/design.md's policy example parses as it
// stands; every kind of malformed row is rejected with its file, line and
// field; generated files round-trip.
#include "scheduler/offline/offline_io.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "bench/workload/generator.h"

namespace azimuth::scheduler {
namespace {

using kernels::ProblemData;

constexpr char kDesignPolicy[] = R"({
  "now": 1780000000,
  "window_s": 60,
  "azure_first": "STRICT",
  "azure_discount": 0.0,
  "azure_first_until": {"gpt-6": 1782592000},
  "latency_usd_per_ms": 0.000001,
  "egress_usd_per_1k": [
    {"from": "aws", "to": "azure", "usd": 0.0009},
    {"from": "azure", "to": "aws", "usd": 0.0009}
  ],
  "reject_usd": [0.05, 0.1, 0.5, 2.0],
  "telemetry_ttl_s": 30
})";

std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/" + std::to_string(::getpid()) + "_" + name;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  std::ofstream(path) << text;
  return path;
}

TEST(PolicyJson, DesignExampleParsesAsItStands) {
  kernels::PolicyData p;
  ASSERT_TRUE(ParsePolicyJson(kDesignPolicy, "P.json", &p).ok());
  EXPECT_EQ(p.now, 1780000000);
  EXPECT_EQ(p.window_s, 60);
  EXPECT_EQ(p.azure_first, kernels::AzureFirst::kStrict);
  EXPECT_EQ(p.azure_first_until.at("gpt-6"), 1782592000);
  EXPECT_DOUBLE_EQ(p.latency_usd_per_ms, 0.000001);
  EXPECT_DOUBLE_EQ(p.egress_usd_per_1k[1][0], 0.0009);  // aws -> azure
  EXPECT_DOUBLE_EQ(p.egress_usd_per_1k[0][1], 0.0009);
  EXPECT_DOUBLE_EQ(p.egress_usd_per_1k[2][0], 0.0);  // not listed: 0
  EXPECT_DOUBLE_EQ(p.reject_usd[3], 2.0);
  EXPECT_EQ(p.telemetry_ttl_s, 30);
}

TEST(PolicyJson, RoundTrips) {
  kernels::PolicyData p, q;
  ASSERT_TRUE(ParsePolicyJson(kDesignPolicy, "P.json", &p).ok());
  ASSERT_TRUE(ParsePolicyJson(PolicyJson(p), "again", &q).ok());
  EXPECT_EQ(q.azure_first_until, p.azure_first_until);
  EXPECT_DOUBLE_EQ(q.egress_usd_per_1k[1][0], p.egress_usd_per_1k[1][0]);
}

// Fair share and its weights (docs/design.md, "Fair share"): parsed,
// kept through a round trip, and a weight out of (0, 1e6] names its tenant.
TEST(PolicyJson, FairShareAndTenantWeights) {
  std::string json = kDesignPolicy;
  const std::string at = "\"telemetry_ttl_s\": 30";
  json.replace(json.find(at), at.size(),
               at + ", \"fair_share\": true, \"tenant_weights\": {\"acme\": 3, \"initech\": 0.5}");
  kernels::PolicyData p, q;
  ASSERT_TRUE(ParsePolicyJson(json, "P.json", &p).ok());
  EXPECT_TRUE(p.fair_share);
  EXPECT_EQ(p.tenant_weights, (std::map<std::string, double>{{"acme", 3}, {"initech", 0.5}}));
  ASSERT_TRUE(ParsePolicyJson(PolicyJson(p), "again", &q).ok());
  EXPECT_TRUE(q.fair_share);
  EXPECT_EQ(q.tenant_weights, p.tenant_weights);
  for (const char* bad : {"0", "-1", "2e6", "\"NaN\""}) {
    std::string b = json;
    const std::string w = "\"initech\": 0.5";
    b.replace(b.find(w), w.size(), std::string("\"initech\": ") + bad);
    const absl::Status s = ParsePolicyJson(b, "P.json", &p);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("tenant_weights['initech']"), absl::string_view::npos) << s.message();
  }
}

TEST(PolicyJson, BadPoliciesNameTheField) {
  struct Case {
    std::string from, to, field;
  };
  const std::vector<Case> cases = {
      {"\"STRICT\"", "\"LAX\"", "azure_first"},
      {"[0.05, 0.1, 0.5, 2.0]", "[0.05, 0.1, 0.5]", "reject_usd"},
      {"[0.05, 0.1, 0.5, 2.0]", "[0.05, -0.1, 0.5, 2.0]", "reject_usd[1]"},
      {"\"azure_discount\": 0.0", "\"azure_discount\": 1.5", "azure_discount"},
      {"\"from\": \"aws\"", "\"from\": \"ibm\"", "egress_usd_per_1k[0].from"},
      {"\"window_s\": 60", "\"window_s\": -1", "window_s"},
      {"\"latency_usd_per_ms\": 0.000001", "\"latency_usd_per_ms\": \"NaN\"", "latency_usd_per_ms"},
      {"\"telemetry_ttl_s\": 30", "\"telemetry_ttl_s\": 30, \"surprise\": 1", "surprise"},
      // Ranges: every number the solver computes stays finite.
      {"[0.05, 0.1, 0.5, 2.0]", "[0, 1e-320, 0.5, 2.0]", "reject_usd[1]"},
      {"[0.05, 0.1, 0.5, 2.0]", "[0.05, 0.1, 0.5, 1e308]", "reject_usd[3]"},
      {"\"latency_usd_per_ms\": 0.000001", "\"latency_usd_per_ms\": 1e300", "latency_usd_per_ms"},
      {"\"usd\": 0.0009", "\"usd\": 1e308", "egress_usd_per_1k[0].usd"},
      {"\"telemetry_ttl_s\": 30", "\"telemetry_ttl_s\": 9223372036854775807", "telemetry_ttl_s"},
  };
  for (const Case& c : cases) {
    std::string json = kDesignPolicy;
    json.replace(json.find(c.from), c.from.size(), c.to);
    kernels::PolicyData p;
    const absl::Status s = ParsePolicyJson(json, "P.json", &p);
    EXPECT_FALSE(s.ok()) << c.to;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.field), absl::string_view::npos) << s.message();
    EXPECT_NE(s.message().find("P.json"), absl::string_view::npos) << s.message();
  }
}

constexpr char kRequestsHeader[] = "id,tenant,model,tokens_in,tokens_out,slo_ms,zone,home_cloud,priority\n";
constexpr char kGoodRequest[] = "r1,t,gpt-5,100,20,0,us,azure,1\n";

TEST(RequestsCsv, ReadsColumnsInAnyOrderWithQuotes) {
  const std::string path = WriteTemp("reorder.csv",
                                     "priority,home_cloud,zone,slo_ms,tokens_out,tokens_in,model,tenant,id\r\n"
                                     "3,aws,,2000,7,11,gpt-5,\"acme, inc\",\"r \"\"quoted\"\"\"\r\n\n");
  ProblemData d;
  ASSERT_TRUE(ReadRequestsCsv(path, &d).ok());
  ASSERT_EQ(d.num_requests(), 1u);
  EXPECT_EQ(d.request_id[0], "r \"quoted\"");
  EXPECT_EQ(d.tenants.Name(d.rq_tenant[0]), "acme, inc");
  EXPECT_EQ(d.rq_tokens_in[0], 11);
  EXPECT_EQ(d.rq_tokens_out[0], 7);
  EXPECT_EQ(d.rq_zone[0], -1);
  EXPECT_EQ(d.rq_home[0], kernels::Cloud::kAws);
  EXPECT_EQ(d.rq_priority[0], 3);
}

// Spreadsheets write a UTF-8 byte-order mark before the header.
TEST(RequestsCsv, AByteOrderMarkBeforeTheHeaderIsSkipped) {
  const std::string path = WriteTemp("bom.csv", std::string("\xEF\xBB\xBF") + kRequestsHeader + kGoodRequest);
  ProblemData d;
  const absl::Status s = ReadRequestsCsv(path, &d);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(d.num_requests(), 1u);
  EXPECT_EQ(d.request_id[0], "r1");
}

TEST(RequestsCsv, MalformedRowsNameFileLineAndField) {
  struct Case {
    std::string name, text, expect;
  };
  const std::string h = kRequestsHeader;
  const std::vector<Case> cases = {
      {"missing column", "id,tenant,model,tokens_in,tokens_out,slo_ms,zone,home_cloud\n", "missing column 'priority'"},
      {"extra column", "id,tenant,model,tokens_in,tokens_out,slo_ms,zone,home_cloud,priority,x\n",
       "unexpected column 'x'"},
      {"bad number", h + kGoodRequest + "r2,t,gpt-5,12x,20,0,us,azure,1\n", ":3: field 'tokens_in'"},
      {"negative tokens", h + "r2,t,gpt-5,100,-20,0,us,azure,1\n", ":2: field 'tokens_out'"},
      {"unknown cloud", h + "r2,t,gpt-5,100,20,0,us,ibm,1\n", ":2: field 'home_cloud': unknown cloud 'ibm'"},
      {"nan", h + "r2,t,gpt-5,nan,20,0,us,azure,1\n", ":2: field 'tokens_in'"},
      {"duplicate id", h + kGoodRequest + kGoodRequest, ":3: field 'id': duplicate request id 'r1'"},
      {"priority", h + "r2,t,gpt-5,100,20,0,us,azure,4\n", ":2: field 'priority'"},
      {"field count", h + "r2,t,gpt-5,100,20,0,us,azure\n", ":2: 8 fields, expected 9"},
      {"empty id", h + ",t,gpt-5,100,20,0,us,azure,1\n", ":2: field 'id': must not be empty"},
      {"unterminated", h + "\"r2,t,gpt-5,100,20,0,us,azure,1\n", ":2: unterminated quoted field"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTemp("bad.csv", c.text);
    ProblemData d;
    const absl::Status s = ReadRequestsCsv(path, &d);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(s.message().find(path), absl::string_view::npos) << c.name << ": " << s.message();
    EXPECT_NE(s.message().find(c.expect), absl::string_view::npos) << c.name << ": " << s.message();
  }
  ProblemData d;
  EXPECT_EQ(ReadRequestsCsv(TempPath("does-not-exist.csv"), &d).code(), absl::StatusCode::kNotFound);
}

TEST(EndpointsCsv, MalformedRowsNameFileLineAndField) {
  const std::string h =
      "id,cloud,region,zone,model,price_in_per_1k,price_out_per_1k,latency_p50_ms,latency_p95_ms,tpm_limit,"
      "rpm_limit,healthy\n";
  const std::string good = "e1,azure,eastus,us,gpt-5,0.001,0.01,300,800,100000,100,true\n";
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases = {
      {h + "e2,azure,eastus,us,gpt-5,-0.001,0.01,300,800,100000,100,true\n", ":2: field 'price_in_per_1k'"},
      {h + "e2,azure,eastus,us,gpt-5,0.001,inf,300,800,100000,100,true\n", ":2: field 'price_out_per_1k'"},
      {h + "e2,azure,eastus,us,gpt-5,0.001,0.01,300,800,100000,100,yes\n", ":2: field 'healthy'"},
      {h + "e2,azure,eastus,us,gpt-5,0.001,0.01,300,800,1e5,100,true\n", ":2: field 'tpm_limit'"},
      {h + "e2,aliyun,eastus,us,gpt-5,0.001,0.01,300,800,100000,100,true\n", ":2: field 'cloud'"},
      {h + good + good, ":3: field 'id': duplicate endpoint id 'e1'"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTemp("bad_endpoints.csv", c.text);
    ProblemData d;
    const absl::Status s = ReadEndpointsCsv(path, &d);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.message().find(c.expect), absl::string_view::npos) << s.message();
  }
  ProblemData d;
  ASSERT_TRUE(ReadEndpointsCsv(WriteTemp("good_endpoints.csv", h + good), &d).ok());
  EXPECT_EQ(d.num_endpoints(), 1u);
  EXPECT_EQ(d.ep_tpm[0], 100000);
}

// The optional capability columns: present or not, in any order; values
// checked with file, line and field.
TEST(CapabilityColumns, OptionalParseAndAreChecked) {
  const std::string h =
      "id,cloud,region,zone,model,price_in_per_1k,price_out_per_1k,latency_p50_ms,latency_p95_ms,tpm_limit,"
      "rpm_limit,healthy";
  const std::string row = "e1,azure,eastus,us,gpt-5,0.001,0.01,300,800,100000,100,true";
  ProblemData d;
  ASSERT_TRUE(
      ReadEndpointsCsv(WriteTemp("cap_e.csv", "features," + h + ",max_context_tokens\n" + "\"tools; vision\"," + row +
                                                  ",128000\n" + "," + std::string("e2") + row.substr(2) + ",\n"),
                       &d)
          .ok());
  ASSERT_EQ(d.num_endpoints(), 2u);
  EXPECT_EQ(d.ep_max_context, (std::vector<std::int64_t>{128000, 0}));
  EXPECT_EQ(d.features.size(), 2u);
  EXPECT_EQ(d.ep_features[0], 3u);
  EXPECT_EQ(d.ep_features[1], 0u);
  const std::string rh = "id,tenant,model,tokens_in,tokens_out,slo_ms,zone,home_cloud,priority";
  ASSERT_TRUE(ReadRequestsCsv(WriteTemp("cap_r.csv", rh + ",requires\nr1,t,gpt-5,10,10,0,,azure,0,vision\n" +
                                                         "r2,t,gpt-5,10,10,0,,azure,0,\n" +
                                                         "r3,t,gpt-5,10,10,0,,azure,0,audio;tools\n"),
                              &d)
                  .ok());
  ASSERT_EQ(d.rq_needs.size(), 3u);
  EXPECT_EQ(d.rq_needs[1], 0);
  EXPECT_EQ(d.need_sets[d.rq_needs[0]].features, 2u);
  EXPECT_TRUE(d.need_sets[d.rq_needs[2]].unknown);
  // Files without the columns parse as before: no requirement at all.
  ProblemData plain;
  ASSERT_TRUE(ReadEndpointsCsv(WriteTemp("plain_e.csv", h + "\n" + row + "\n"), &plain).ok());
  ASSERT_TRUE(ReadRequestsCsv(WriteTemp("plain_r.csv", rh + "\nr1,t,gpt-5,10,10,0,,azure,0\n"), &plain).ok());
  EXPECT_TRUE(plain.rq_needs.empty());
  EXPECT_EQ(plain.ep_max_context, (std::vector<std::int64_t>{0}));

  struct Case {
    std::string text, expect;
  };
  for (const Case& c : std::vector<Case>{
           {h + ",max_context_tokens\n" + row + ",-5\n", ":2: field 'max_context_tokens'"},
           {h + ",max_context_tokens\n" + row + ",1.5e5\n", ":2: field 'max_context_tokens'"},
           {h + ",features\n" + row + ",tools;tools\n", ":2: field 'features': feature 'tools' named twice"},
           {h + ",capabilities\n" + row + ",x\n", ":1: unexpected column 'capabilities'"},
       }) {
    ProblemData bad;
    const absl::Status st = ReadEndpointsCsv(WriteTemp("cap_bad.csv", c.text), &bad);
    ASSERT_FALSE(st.ok()) << c.text;
    EXPECT_NE(st.message().find(c.expect), absl::string_view::npos) << st.message();
  }
}

TEST(OfflineFiles, GeneratedWorkloadWithCapabilitiesRoundTrips) {
  bench::WorkloadSpec spec;
  spec.requests = 2000;
  spec.endpoints = 20;
  spec.capabilities = true;
  const ProblemData original = bench::GenerateWorkload(spec);
  const std::string e = TempPath("Ec.csv"), r = TempPath("Rc.csv");
  ASSERT_TRUE(WriteEndpointsCsv(e, original).ok());
  ASSERT_TRUE(WriteRequestsCsv(r, original).ok());
  ProblemData copy;
  ASSERT_TRUE(ReadEndpointsCsv(e, &copy).ok());
  ASSERT_TRUE(ReadRequestsCsv(r, &copy).ok());
  EXPECT_EQ(copy.ep_max_context, original.ep_max_context);
  EXPECT_EQ(copy.ep_features, original.ep_features);  // features interned in the same order
  ASSERT_EQ(copy.rq_needs.size(), original.rq_needs.size());
  for (std::size_t i = 0; i < copy.num_requests(); ++i) {
    ASSERT_EQ(copy.need_sets[copy.rq_needs[i]].features, original.need_sets[original.rq_needs[i]].features) << i;
  }
}

TEST(OfflineFiles, GeneratedWorkloadRoundTrips) {
  bench::WorkloadSpec spec;
  spec.requests = 2000;
  spec.endpoints = 20;
  const ProblemData original = bench::GenerateWorkload(spec);
  const std::string e = TempPath("E.csv"), r = TempPath("R.csv");
  ASSERT_TRUE(WriteEndpointsCsv(e, original).ok());
  ASSERT_TRUE(WriteRequestsCsv(r, original).ok());
  ProblemData copy;
  ASSERT_TRUE(ReadEndpointsCsv(e, &copy).ok());
  ASSERT_TRUE(ReadRequestsCsv(r, &copy).ok());
  ASSERT_EQ(copy.num_requests(), original.num_requests());
  ASSERT_EQ(copy.num_endpoints(), original.num_endpoints());
  EXPECT_EQ(copy.request_id, original.request_id);
  EXPECT_EQ(copy.rq_tokens_in, original.rq_tokens_in);
  EXPECT_EQ(copy.rq_slo, original.rq_slo);
  EXPECT_EQ(copy.ep_price_in, original.ep_price_in);  // shortest round-trip formatting is exact
  EXPECT_EQ(copy.ep_tpm, original.ep_tpm);
  for (std::size_t i = 0; i < copy.num_requests(); ++i) {
    ASSERT_EQ(copy.models.Name(copy.rq_model[i]), original.models.Name(original.rq_model[i]));
  }
}

}  // namespace
}  // namespace azimuth::scheduler
