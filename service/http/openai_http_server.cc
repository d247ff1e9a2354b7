#include "service/http/openai_http_server.h"

#include <httplib.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/http/completion_call.h"
#include "service/http/json_text.h"
#include "service/http/listen_address.h"
#include "service/http/openai_error.h"
#include "service/http/openai_models.h"

namespace loraplex::service {
namespace {

// The error JSON for an answer httplib made itself (no route, a request it
// could not read), which has no body yet.
std::string GenericErrorBody(const httplib::Request& request, int status) {
  std::string message;
  std::string code;
  switch (status) {
    case 404:
      message = absl::StrCat("unknown request URL: ", request.method, " ",
                             request.path);
      code = "unknown_url";
      break;
    case 413:
      message =
          "the request is larger than the server accepts "
          "(--http-max-request-bytes)";
      code = "request_too_large";
      break;
    default:
      message =
          absl::StrCat("the request could not be read (HTTP ", status, ")");
      break;
  }
  using Json = nlohmann::ordered_json;
  Json error = {{"message", message},
                {"type", "invalid_request_error"},
                {"param", nullptr},
                {"code", code.empty() ? Json(nullptr) : Json(code)}};
  return JsonText(Json{{"error", std::move(error)}});
}

// A compressed body would be inflated into memory past the size limit,
// which bounds the bytes received: only identity bodies are taken.
bool HasEncodedBody(const httplib::Request& request) {
  if (!request.has_header("Content-Encoding")) return false;
  const std::string encoding = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(request.get_header_value("Content-Encoding")));
  return encoding != "identity";
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpenAiHttpServer>> OpenAiHttpServer::Start(
    const std::string& listen_address, const HttpServerLimits& limits) {
  if (listen_address.empty() || listen_address == "none") return nullptr;
  const auto unavailable = [&](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve the HTTP API on \"", listen_address, "\": ", why));
  };
  absl::StatusOr<ListenAddress> address = ParseListenAddress(listen_address);
  if (!address.ok()) return unavailable(address.status().message());

  std::unique_ptr<OpenAiHttpServer> server(new OpenAiHttpServer());
  OpenAiHttpServer* self = server.get();
  // Runs every handler with the deps, or answers 503 while loading.
  const auto serving = [self](auto handle) {
    return [self, handle](const httplib::Request& request,
                          httplib::Response& response) {
      const OpenAiDeps* deps = self->deps();
      if (deps == nullptr) {
        const ErrorScrubber no_paths("", "");
        SetErrorResponse(
            absl::UnavailableError("the server is loading its model"), no_paths,
            response);
        return;
      }
      handle(*deps, request, response);
    };
  };
  absl::StatusOr<std::unique_ptr<BoundedHttpServer>> http =
      BoundedHttpServer::Start(
          address->host, address->port, limits, [&](httplib::Server& routes) {
            routes.set_pre_routing_handler([](const httplib::Request& request,
                                              httplib::Response& response) {
              if (!HasEncodedBody(request)) {
                return httplib::Server::HandlerResponse::Unhandled;
              }
              const ErrorScrubber no_paths("", "");
              SetErrorResponse(
                  absl::InvalidArgumentError(
                      "compressed request bodies (Content-Encoding) are "
                      "not accepted"),
                  no_paths, response);
              response.status = 415;
              return httplib::Server::HandlerResponse::Handled;
            });
            routes.Get("/v1/models", serving([](const OpenAiDeps& deps,
                                                const httplib::Request& request,
                                                httplib::Response& response) {
                         ServeModelList(deps, request, response);
                       }));
            routes.Get(R"(/v1/models/(.+))",
                       serving([](const OpenAiDeps& deps,
                                  const httplib::Request& request,
                                  httplib::Response& response) {
                         ServeModel(deps, request.matches[1].str(), request,
                                    response);
                       }));
            routes.Post("/v1/completions",
                        serving([](const OpenAiDeps& deps,
                                   const httplib::Request& request,
                                   httplib::Response& response) {
                          ServeCompletion(deps, OpenAiEndpoint::kCompletions,
                                          request, response);
                        }));
            routes.Post("/v1/chat/completions",
                        serving([](const OpenAiDeps& deps,
                                   const httplib::Request& request,
                                   httplib::Response& response) {
                          ServeCompletion(deps,
                                          OpenAiEndpoint::kChatCompletions,
                                          request, response);
                        }));
            routes.set_error_handler([](const httplib::Request& request,
                                        httplib::Response& response) {
              if (!response.body.empty() || response.content_provider_) return;
              response.set_content(GenericErrorBody(request, response.status),
                                   "application/json");
            });
          });
  if (!http.ok()) return unavailable(http.status().message());
  server->http_ = *std::move(http);
  return server;
}

void OpenAiHttpServer::Serve(OpenAiDeps deps) {
  serving_deps_ = std::make_unique<OpenAiDeps>(std::move(deps));
  deps_.store(serving_deps_.get(), std::memory_order_release);
}

}  // namespace loraplex::service
