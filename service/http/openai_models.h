// GET /v1/models and GET /v1/models/{model}: the base model and every
// adapter the caller may use, as OpenAI's model objects
// ({"id", "object": "model", "created", "owned_by"}). Adapters are listed
// as "<owner>/<name>" with owned_by = their tenant, and "parent" = the
// base model's id (as vLLM lists LoRA adapters); the base model is owned by
// "loraplex".
#ifndef LORAPLEX_SERVICE_HTTP_OPENAI_MODELS_H_
#define LORAPLEX_SERVICE_HTTP_OPENAI_MODELS_H_

#include <httplib.h>

#include <string>

#include "service/http/openai_deps.h"

namespace loraplex::service {

// owned_by of the base model.
inline constexpr char kBaseModelOwner[] = "loraplex";

// Answers GET /v1/models on an HTTP worker thread.
void ServeModelList(const OpenAiDeps& deps, const httplib::Request& request,
                    httplib::Response& response);
// Answers GET /v1/models/{model} (`model`: the base model's id, "<name>" of
// the caller's own adapter or "<owner>/<name>"); 404 for a model the caller
// may not see.
void ServeModel(const OpenAiDeps& deps, const std::string& model,
                const httplib::Request& request, httplib::Response& response);

}  // namespace loraplex::service

#endif  // LORAPLEX_SERVICE_HTTP_OPENAI_MODELS_H_
