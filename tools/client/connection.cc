#include "tools/client/connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

namespace loraplex::tools {

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectionOptions& options) {
  grpc::ChannelArguments args;
  // Upload chunks are 1 MiB plus framing; generated replies stay far below
  // the default limits otherwise.
  args.SetMaxSendMessageSize(8 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(options.server,
                                   grpc::InsecureChannelCredentials(), args);
}

void PrepareContext(const ConnectionOptions& options,
                    grpc::ClientContext* context, const std::string& adapter) {
  if (!adapter.empty()) context->AddMetadata(kAdapterRoutingHeader, adapter);
  if (options.timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  }
  if (!options.api_key.empty()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options.api_key));
  }
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

std::string FormatErrorLine(const absl::Status& status) {
  const std::string message = absl::StrReplaceAll(
      status.message(), {{"\r\n", " "}, {"\n", " "}, {"\r", " "}});
  return absl::StrCat("error: ", absl::StatusCodeToString(status.code()), ": ",
                      message);
}

}  // namespace loraplex::tools
