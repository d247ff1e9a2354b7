// Limits every API (gRPC and HTTP) applies to a generation request before
// it reaches the engine, and what a request is checked against.
#ifndef LORAPLEX_SERVICE_FRONTEND_REQUEST_LIMITS_H_
#define LORAPLEX_SERVICE_FRONTEND_REQUEST_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace loraplex::service {

// What a request is checked against (from engine::ModelInfo).
struct ModelLimits {
  int32_t vocab_size = 0;   // Token ids must lie in [0, vocab_size).
  int32_t max_seq_len = 0;  // KV capacity per sequence.
};

// Limits documented in generation.proto (and the README's HTTP API).
inline constexpr int kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 256;
inline constexpr int kMaxStopTokenIds = 64;
inline constexpr int32_t kDefaultMaxNewTokens = 16;

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_FRONTEND_REQUEST_LIMITS_H_
