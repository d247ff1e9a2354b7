// Fuzzes the service's proto -> engine request path without gRPC or
// LibTorch: bytes parsed as a loraplex.v1.GenerateRequest (as the server's
// deserializer does), the adapter name parsed as ResolveGeneration does,
// then ToEngineRequest. An accepted request must obey the rules
// generation.proto documents.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/loraplex/v1/generation.pb.h"
#include "service/auth/names.h"
#include "service/grpc/proto_conversion.h"

namespace {

using loraplex::service::ModelLimits;

constexpr ModelLimits kLimits{/*vocab_size=*/4096, /*max_seq_len=*/512};

void CheckAccepted(const loraplex::engine::GenerationRequest& r) {
  LORAPLEX_FUZZ_CHECK(r.prompt_text.empty() != r.prompt_ids.empty());
  for (int32_t id : r.prompt_ids) {
    LORAPLEX_FUZZ_CHECK(id >= 0 && id < kLimits.vocab_size);
  }
  LORAPLEX_FUZZ_CHECK(r.stopping.max_new_tokens >= 1);
  if (!r.prompt_ids.empty()) {
    LORAPLEX_FUZZ_CHECK(static_cast<int64_t>(r.prompt_ids.size()) +
                            r.stopping.max_new_tokens <=
                        kLimits.max_seq_len);
  }
  LORAPLEX_FUZZ_CHECK(r.stopping.stop_strings.size() <=
                      static_cast<size_t>(loraplex::service::kMaxStopStrings));
  for (const std::string& stop : r.stopping.stop_strings) {
    LORAPLEX_FUZZ_CHECK(!stop.empty() &&
                        stop.size() <= loraplex::service::kMaxStopStringBytes);
  }
  for (int32_t id : r.stopping.stop_token_ids) {
    LORAPLEX_FUZZ_CHECK(id >= 0 && id < kLimits.vocab_size);
  }
  LORAPLEX_FUZZ_CHECK(std::isfinite(r.sampling.temperature) &&
                      r.sampling.temperature >= 0);
  LORAPLEX_FUZZ_CHECK(r.sampling.top_k >= 0);
  LORAPLEX_FUZZ_CHECK(r.sampling.top_p > 0 && r.sampling.top_p <= 1);
  // The engine's own check must agree with the service's.
  LORAPLEX_FUZZ_CHECK(
      loraplex::engine::ValidateSamplingParams(r.sampling).ok());
}

void IgnoreLog(google::protobuf::LogLevel, const char*, int,
               const std::string&) {}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 in a string field is logged by protobuf: keep it quiet.
  google::protobuf::SetLogHandler(&IgnoreLog);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  loraplex::v1::GenerateRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!request.adapter().empty()) {
    auto ref = loraplex::service::ParseAdapterRef(request.adapter(), "tenant");
    if (ref.ok()) {
      LORAPLEX_FUZZ_CHECK(loraplex::service::IsValidName(ref->tenant) &&
                          loraplex::service::IsValidName(ref->name));
    }
  }
  auto converted = loraplex::service::ToEngineRequest(request, kLimits,
                                                      "adapter-id", "tenant");
  if (converted.ok()) CheckAccepted(*converted);
  return 0;
}
