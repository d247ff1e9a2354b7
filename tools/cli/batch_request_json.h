// The JSON Lines format of `loraplex batch`: one request object per input
// line, one result object per output line.
#ifndef LORAPLEX_TOOLS_CLI_BATCH_REQUEST_JSON_H_
#define LORAPLEX_TOOLS_CLI_BATCH_REQUEST_JSON_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/generation_types.h"

namespace loraplex::cli {

struct BatchLine {
  std::string id;
  engine::GenerationRequest request;  // adapter_id holds the adapter NAME.
};

// Parses one input line:
// {"id": "...", "adapter": "NAME" | null, "prompt_ids": [..] | "prompt": "text",
//  "max_new_tokens": 16, "temperature": 0, "top_p": 1, "top_k": 0,
//  "seed": 0, "ignore_eos": false, "stop_token_ids": [], "stop": [],
//  "return_last_logits": false}
// Unknown keys are errors (a misspelt option must not be ignored).
absl::StatusOr<BatchLine> ParseBatchLine(std::string_view line);

struct BatchResult {
  std::string id;
  std::vector<int32_t> token_ids;
  std::string text;
  engine::FinishReason finish_reason = engine::FinishReason::kNone;
  std::vector<float> last_logits;  // Written only when non-empty.
  absl::Status error;              // Non-OK: written as {"id", "error"}.
};

// {"id", "token_ids", "text", "finish_reason", "last_logits"?} or
// {"id", "error"}; no trailing newline.
std::string FormatBatchResult(const BatchResult& result);

}  // namespace loraplex::cli

#endif  // LORAPLEX_TOOLS_CLI_BATCH_REQUEST_JSON_H_
