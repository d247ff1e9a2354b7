// Drives GenerateStream calls at a loraplex-server with gRPC's asynchronous
// callback API: open loop (Poisson arrivals at a fixed rate, whatever the
// server's pace) or closed loop (a fixed number of calls in flight, the next
// starting when one ends), and records every call's timings.
#ifndef LORAPLEX_TOOLS_LOADGEN_LOAD_RUNNER_H_
#define LORAPLEX_TOOLS_LOADGEN_LOAD_RUNNER_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/client/connection.h"
#include "tools/loadgen/request_record.h"
#include "tools/loadgen/workload.h"

namespace loraplex::loadgen {

struct LoadOptions {
  // Exactly one of the two is > 0: arrivals per second (open loop), or calls
  // kept in flight (closed loop).
  double rate = 0;
  int32_t concurrency = 0;
  // When to stop sending; at least one is set. The run then waits for the
  // calls in flight (up to drain_timeout, then cancels them).
  absl::Duration duration = absl::ZeroDuration();  // Zero = no time limit.
  int64_t max_requests = 0;                        // 0 = no count limit.
  absl::Duration drain_timeout = absl::Seconds(60);
  // Open loop: more calls than this in flight delay the next arrival.
  int32_t max_in_flight = 1024;

  // Adapter names ("name" or "owner/name") requests pick from with
  // AdapterPicker(alpha); empty = every request on the base model.
  std::vector<std::string> adapters;
  double alpha = 0;
  // Share of requests sent to the base model instead, in [0, 1].
  double base_fraction = 0;

  IntRange prompt_tokens{16, 16};
  IntRange output_tokens{16, 16};
  // Random prompt ids are drawn from [first_prompt_id, vocab_size).
  int32_t vocab_size = 256;
  int32_t first_prompt_id = 0;
  // Non-empty: every prompt is this text (the server's tokenizer decides
  // its length) instead of random ids.
  std::string prompt_text;
  // Keep generating past EOS so outputs have the asked length.
  bool ignore_eos = true;
  uint64_t seed = 1;  // Of the workload's choices (adapters, lengths, ids).
};

// INVALID_ARGUMENT naming the flag for inconsistent options.
absl::Status ValidateLoadOptions(const LoadOptions& options);

// Runs the load; blocks until every call has ended. Records are in the order
// the calls started. Only invalid options fail the run: failed calls are
// records with their status code.
absl::StatusOr<std::vector<RequestRecord>> RunLoad(
    const LoadOptions& options, const tools::ConnectionOptions& connection,
    std::shared_ptr<grpc::Channel> channel);

}  // namespace loraplex::loadgen

#endif  // LORAPLEX_TOOLS_LOADGEN_LOAD_RUNNER_H_
