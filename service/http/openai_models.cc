#include "service/http/openai_models.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/common/status_macros.h"
#include "service/auth/access.h"
#include "service/auth/names.h"
#include "service/http/completion_call.h"
#include "service/http/json_text.h"
#include "service/http/openai_error.h"

namespace loraplex::service {
namespace {

using Json = nlohmann::ordered_json;

Json BaseModel(const OpenAiDeps& deps) {
  return Json{{"id", deps.base_model_id},
              {"object", "model"},
              {"created", absl::ToUnixSeconds(deps.started)},
              {"owned_by", kBaseModelOwner}};
}

Json AdapterModel(const OpenAiDeps& deps, const AdapterRecord& record) {
  return Json{{"id", record.ref().ToString()},
              {"object", "model"},
              {"created", absl::ToUnixSeconds(record.created_at)},
              {"owned_by", record.tenant},
              {"parent", deps.base_model_id}};
}

absl::StatusOr<Json> ListModels(const OpenAiDeps& deps,
                                const Principal& caller) {
  Json data = Json::array({BaseModel(deps)});
  ListQuery query;
  query.viewer = caller;
  query.page_size = kMaxPageSize;
  while (true) {
    ASSIGN_OR_RETURN(AdapterPage page, deps.registry->List(query));
    for (const AdapterRecord& record : page.records) {
      data.push_back(AdapterModel(deps, record));
    }
    if (page.next_page_token.empty()) break;
    query.page_token = std::move(page.next_page_token);
  }
  return Json{{"object", "list"}, {"data", std::move(data)}};
}

absl::StatusOr<Json> GetModel(const OpenAiDeps& deps, const Principal& caller,
                              const std::string& model) {
  if (model == deps.base_model_id) return BaseModel(deps);
  const auto not_found = [&model]() {
    return WithParam(absl::NotFoundError(absl::StrCat(
                         "the model \"", model,
                         "\" does not exist or you do not have access to it")),
                     "model");
  };
  absl::StatusOr<AdapterRef> ref = ParseAdapterRef(model, caller.tenant);
  if (!ref.ok()) return not_found();
  absl::StatusOr<AdapterRecord> record = deps.registry->Get(*ref);
  if (!record.ok() || !CheckAdapterAccess(caller, AdapterAction::kRead, *ref,
                                          record->visibility)
                           .ok()) {
    return not_found();
  }
  return AdapterModel(deps, *record);
}

// Authenticates, runs `answer`, and answers its JSON or its error.
template <typename Answer>
void Serve(const OpenAiDeps& deps, const char* rpc,
           const httplib::Request& request, httplib::Response& response,
           const Answer& answer) {
  absl::StatusOr<Principal> caller =
      AuthenticateHttpRequest(*deps.api_keys, request);
  absl::StatusOr<Json> body =
      caller.ok() ? answer(*caller) : absl::StatusOr<Json>(caller.status());
  if (body.ok()) {
    response.set_content(JsonText(*body), "application/json");
  } else {
    SetErrorResponse(body.status(), *deps.scrubber, response);
  }
  deps.metrics->RecordRequest(ServerMetrics::Api::kHttp,
                              caller.ok() ? caller->tenant : "", rpc,
                              body.status().code());
}

}  // namespace

void ServeModelList(const OpenAiDeps& deps, const httplib::Request& request,
                    httplib::Response& response) {
  Serve(deps, "ListModels", request, response,
        [&deps](const Principal& caller) { return ListModels(deps, caller); });
}

void ServeModel(const OpenAiDeps& deps, const std::string& model,
                const httplib::Request& request, httplib::Response& response) {
  Serve(deps, "GetModel", request, response,
        [&deps, &model](const Principal& caller) {
          return GetModel(deps, caller, model);
        });
}

}  // namespace loraplex::service
