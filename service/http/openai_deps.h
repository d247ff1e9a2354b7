// What the OpenAI-compatible HTTP API needs, owned elsewhere (by the
// ServerApp, which creates them before the API serves and destroys them
// after the HTTP server is gone).
#ifndef LORAPLEX_SERVICE_HTTP_OPENAI_DEPS_H_
#define LORAPLEX_SERVICE_HTTP_OPENAI_DEPS_H_

#include <string>

#include "absl/time/time.h"
#include "engine/chat_template/chat_template.h"
#include "engine/engine.h"
#include "service/auth/api_key_store.h"
#include "service/frontend/error_scrubber.h"
#include "service/metrics/server_metrics.h"
#include "service/registry/adapter_registry.h"

namespace loraplex::service {

struct OpenAiDeps {
  engine::Engine* engine = nullptr;
  const AdapterRegistry* registry = nullptr;
  const ApiKeyStore* api_keys = nullptr;
  ServerMetrics* metrics = nullptr;
  const ErrorScrubber* scrubber = nullptr;
  // The model's chat template; null when it has none (chat completions are
  // then refused).
  const chat::ChatTemplate* chat_template = nullptr;
  // The base model's id in the API (`model` of a request, /v1/models).
  std::string base_model_id;
  absl::Time started;  // The base model's "created".
};

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_OPENAI_DEPS_H_
