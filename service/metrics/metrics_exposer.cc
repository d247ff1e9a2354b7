#include "service/metrics/metrics_exposer.h"

#include <httplib.h>

#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"
#include "service/http/listen_address.h"

namespace loraplex::service {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

std::string MetricsExposer::Source::Render() const {
  if (before_scrape) before_scrape();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry->Collect());
  return out.str();
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& listen_address,
    std::shared_ptr<prometheus::Registry> registry,
    std::function<void()> before_scrape, const HttpServerLimits& limits) {
  if (listen_address.empty()) return nullptr;
  const auto unavailable = [&](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on \"",
                                               listen_address, "\": ", why));
  };
  absl::StatusOr<ListenAddress> address = ParseListenAddress(listen_address);
  if (!address.ok()) return unavailable(address.status().message());
  std::unique_ptr<MetricsExposer> exposer(new MetricsExposer());
  exposer->source_ = std::make_unique<Source>(
      Source{std::move(registry), std::move(before_scrape)});
  const Source* source = exposer->source_.get();
  absl::StatusOr<std::unique_ptr<BoundedHttpServer>> http =
      BoundedHttpServer::Start(
          address->host, address->port, limits,
          [source](httplib::Server& routes) {
            routes.Get("/metrics", [source](const httplib::Request&,
                                            httplib::Response& response) {
              response.set_content(source->Render(), kContentType);
            });
            routes.set_error_handler(
                [](const httplib::Request&, httplib::Response& response) {
                  if (response.status == 404) {
                    response.set_content("metrics are at GET /metrics\n",
                                         "text/plain");
                  }
                });
          });
  if (!http.ok()) return unavailable(http.status().message());
  exposer->http_ = *std::move(http);
  return exposer;
}

}  // namespace loraplex::service
