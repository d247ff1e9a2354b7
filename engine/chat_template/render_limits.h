// Bounds on one render. The template is the operator's, but the messages
// are a client's: a loop over a huge range(), a string multiplied by a
// client-sized number or a namespace list doubled in a loop must end in an
// error, not in an exhausted server.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_RENDER_LIMITS_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_RENDER_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace loraplex::chat {

struct RenderLimits {
  // The rendered text, and any one string built while rendering.
  size_t max_output_bytes = 16 << 20;
  // All strings built during one render together (concatenations, filters,
  // the output): bounds the time a quadratic template can take.
  uint64_t max_total_string_bytes = uint64_t{256} << 20;
  // All iterations of every loop in one render (and list items built by
  // `+`, `*`, list(), range()...).
  int64_t max_loop_iterations = 1'000'000;
  // Items of any one list or dict built while rendering.
  size_t max_container_items = 1'000'000;
  // range() longer than this fails, as in Jinja's sandbox (MAX_RANGE).
  int64_t max_range = 100'000;
  // Macro calls nested (recursion).
  int max_call_depth = 64;
};

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_RENDER_LIMITS_H_
