// `loraplex health`: the standard grpc.health.v1 Check.
#include <memory>
#include <ostream>

#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "tools/cli/cli_command.h"
#include "tools/cli/client_commands.h"
#include "tools/cli/client_flags.h"
#include "tools/client/proto_json.h"

namespace loraplex::cli {

int RunHealthCommand(const std::vector<std::string>& args, std::istream& in,
                     std::ostream& out, std::ostream& err) {
  constexpr char kCommand[] = "health";
  std::vector<FlagSpec> specs = {ValueFlag(
      "service",
      "a service's full name, e.g. loraplex.v1.GenerationService (default: "
      "the server as a whole)")};
  for (FlagSpec& spec : ClientFlagSpecs()) specs.push_back(std::move(spec));
  absl::StatusOr<CommandLine> cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, kCommand, cl.status());
  if (SwitchOn(*cl, "help")) {
    out << FormatHelp("loraplex health [--service NAME]",
                      "Prints the server's serving status (grpc.health.v1).\n"
                      "Exit status: 0 SERVING, 1 anything else or the call "
                      "failed, 2 bad usage.",
                      specs);
    return kExitOk;
  }
  if (!cl->positional().empty()) {
    return UsageError(err, kCommand,
                      absl::InvalidArgumentError("takes no arguments"));
  }
  absl::StatusOr<tools::ConnectionOptions> connection =
      ConnectionOptionsFrom(*cl);
  if (!connection.ok()) return UsageError(err, kCommand, connection.status());
  auto stub =
      grpc::health::v1::Health::NewStub(tools::MakeChannel(*connection));
  grpc::ClientContext context;
  tools::PrepareContext(*connection, &context);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(cl->Get("service"));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return ReportError(err, tools::FromGrpcStatus(status));
  if (WantsJson(*cl)) {
    out << tools::ProtoToJson(response) << "\n";
  } else {
    out << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
               response.status())
        << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitFailure;
}

}  // namespace loraplex::cli
