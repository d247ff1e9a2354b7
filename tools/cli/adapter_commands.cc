// `loraplex adapters SUBCOMMAND`: upload (upload_command.cc), list, get,
// delete, load.
#include <google/protobuf/util/time_util.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "tools/cli/adapter_printing.h"
#include "tools/cli/cli_command.h"
#include "tools/cli/client_commands.h"
#include "tools/cli/client_flags.h"
#include "tools/cli/upload_command.h"
#include "tools/client/proto_json.h"

namespace loraplex::cli {
namespace {

namespace v1 = ::loraplex::v1;

constexpr char kUsage[] =
    "Usage: loraplex adapters SUBCOMMAND [flags]\n"
    "\n"
    "  upload NAME DIR   upload a PEFT LoRA adapter directory\n"
    "  list              list the adapters you can see\n"
    "  get NAME          show one adapter\n"
    "  delete NAME       delete one of your adapters\n"
    "  load NAME         warm an adapter into the server's device cache\n"
    "\n"
    "NAME is \"name\" (yours) or \"owner/name\". Run 'loraplex adapters "
    "SUBCOMMAND --help' for flags.\n";

// The parsed words of a subcommand, or the exit status to return at once
// (after --help or a usage error).
struct ParsedSubcommand {
  CommandLine command_line;
  tools::ConnectionOptions connection;
  std::optional<int> exit_now;
};

ParsedSubcommand ParseSubcommand(const std::string& name,
                                 const std::string& usage,
                                 const std::string& summary,
                                 std::vector<FlagSpec> specs,
                                 size_t positional_count,
                                 const std::vector<std::string>& args,
                                 std::ostream& out, std::ostream& err) {
  ParsedSubcommand parsed;
  const std::string command = "adapters " + name;
  for (FlagSpec& spec : ClientFlagSpecs()) specs.push_back(std::move(spec));
  absl::StatusOr<CommandLine> cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) {
    parsed.exit_now = UsageError(err, command, cl.status());
    return parsed;
  }
  parsed.command_line = *std::move(cl);
  if (SwitchOn(parsed.command_line, "help")) {
    out << FormatHelp(usage, summary, specs);
    parsed.exit_now = kExitOk;
    return parsed;
  }
  if (parsed.command_line.positional().size() != positional_count) {
    parsed.exit_now = UsageError(
        err, command,
        absl::InvalidArgumentError(positional_count == 0
                                       ? "takes no arguments"
                                       : "expected exactly one NAME"));
    return parsed;
  }
  absl::StatusOr<tools::ConnectionOptions> connection =
      ConnectionOptionsFrom(parsed.command_line);
  if (!connection.ok()) {
    parsed.exit_now = UsageError(err, command, connection.status());
    return parsed;
  }
  parsed.connection = *connection;
  return parsed;
}

std::unique_ptr<v1::AdapterService::Stub> StubFor(
    const tools::ConnectionOptions& connection) {
  return v1::AdapterService::NewStub(tools::MakeChannel(connection));
}

int RunList(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  ParsedSubcommand p = ParseSubcommand(
      "list", "loraplex adapters list [--owner TENANT]",
      "Lists the adapters you can see (yours and every public one; an admin "
      "sees all),\nordered by owner and name. --json prints {\"adapters\": "
      "[...]}.",
      {ValueFlag("owner", "only this tenant's adapters"),
       ValueFlag("page-size", "adapters per call", "200")},
      0, args, out, err);
  if (p.exit_now) return *p.exit_now;
  absl::StatusOr<int64_t> page_size = p.command_line.GetInt("page-size");
  if (!page_size.ok())
    return UsageError(err, "adapters list", page_size.status());
  auto stub = StubFor(p.connection);
  v1::ListAdaptersResponse all;
  std::string page_token;
  do {
    grpc::ClientContext context;
    tools::PrepareContext(p.connection, &context);
    v1::ListAdaptersRequest request;
    request.set_page_size(static_cast<int32_t>(*page_size));
    request.set_page_token(page_token);
    request.set_owner(p.command_line.Get("owner"));
    v1::ListAdaptersResponse page;
    const grpc::Status status = stub->ListAdapters(&context, request, &page);
    if (!status.ok()) return ReportError(err, tools::FromGrpcStatus(status));
    for (v1::Adapter& adapter : *page.mutable_adapters()) {
      *all.add_adapters() = std::move(adapter);
    }
    page_token = page.next_page_token();
  } while (!page_token.empty());
  if (WantsJson(p.command_line)) {
    out << tools::ProtoToJson(all) << "\n";
  } else {
    out << FormatAdapterTable({all.adapters().begin(), all.adapters().end()});
  }
  return kExitOk;
}

int RunGet(const std::vector<std::string>& args, std::ostream& out,
           std::ostream& err) {
  ParsedSubcommand p =
      ParseSubcommand("get", "loraplex adapters get NAME",
                      "Shows one adapter you can see.", {}, 1, args, out, err);
  if (p.exit_now) return *p.exit_now;
  grpc::ClientContext context;
  tools::PrepareContext(p.connection, &context, p.command_line.positional()[0]);
  v1::GetAdapterRequest request;
  request.set_name(p.command_line.positional()[0]);
  v1::Adapter adapter;
  const grpc::Status status =
      StubFor(p.connection)->GetAdapter(&context, request, &adapter);
  if (!status.ok()) return ReportError(err, tools::FromGrpcStatus(status));
  out << (WantsJson(p.command_line) ? tools::ProtoToJson(adapter) + "\n"
                                    : FormatAdapterDetails(adapter));
  return kExitOk;
}

int RunDelete(const std::vector<std::string>& args, std::ostream& out,
              std::ostream& err) {
  ParsedSubcommand p = ParseSubcommand(
      "delete", "loraplex adapters delete NAME",
      "Deletes one of your adapters (an admin: anyone's). Requests already "
      "running with it finish.",
      {}, 1, args, out, err);
  if (p.exit_now) return *p.exit_now;
  grpc::ClientContext context;
  tools::PrepareContext(p.connection, &context, p.command_line.positional()[0]);
  v1::DeleteAdapterRequest request;
  request.set_name(p.command_line.positional()[0]);
  v1::DeleteAdapterResponse response;
  const grpc::Status status =
      StubFor(p.connection)->DeleteAdapter(&context, request, &response);
  if (!status.ok()) return ReportError(err, tools::FromGrpcStatus(status));
  if (WantsJson(p.command_line)) {
    out << tools::ProtoToJson(response) << "\n";
  } else {
    out << absl::StrFormat("deleted %s version %s\n",
                           QualifiedName(response.adapter()),
                           response.adapter().version());
  }
  return kExitOk;
}

int RunLoad(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  ParsedSubcommand p = ParseSubcommand(
      "load", "loraplex adapters load NAME",
      "Warms an adapter into the server's device cache; returns once it is "
      "resident.",
      {}, 1, args, out, err);
  if (p.exit_now) return *p.exit_now;
  grpc::ClientContext context;
  tools::PrepareContext(p.connection, &context, p.command_line.positional()[0]);
  v1::LoadAdapterRequest request;
  request.set_name(p.command_line.positional()[0]);
  v1::LoadAdapterResponse response;
  const grpc::Status status =
      StubFor(p.connection)->LoadAdapter(&context, request, &response);
  if (!status.ok()) return ReportError(err, tools::FromGrpcStatus(status));
  if (WantsJson(p.command_line)) {
    out << tools::ProtoToJson(response) << "\n";
  } else {
    const double ms =
        static_cast<double>(
            google::protobuf::util::TimeUtil::DurationToMicroseconds(
                response.load_time())) /
        1e3;
    out << absl::StrFormat("loaded %s in %.1f ms\n",
                           QualifiedName(response.adapter()), ms);
  }
  return kExitOk;
}

}  // namespace

int RunAdaptersCommand(const std::vector<std::string>& args, std::istream& in,
                       std::ostream& out, std::ostream& err) {
  // Global flags may stand before the subcommand ("loraplex --json adapters
  // list" arrives here as "--json list"): they go to the subcommand.
  size_t i = 0;
  while (i < args.size() && absl::StartsWith(args[i], "--") &&
         args[i] != "--help") {
    const bool takes_value = args[i] == "--server" || args[i] == "--api-key" ||
                             args[i] == "--timeout";
    i += takes_value ? 2 : 1;
  }
  if (i >= args.size() || args[i] == "--help" || args[i] == "-h" ||
      args[i] == "help") {
    (i >= args.size() ? err : out) << kUsage;
    return i >= args.size() ? kExitUsage : kExitOk;
  }
  const std::string& sub = args[i];
  std::vector<std::string> rest(args.begin(),
                                args.begin() + static_cast<long>(i));
  rest.insert(rest.end(), args.begin() + static_cast<long>(i) + 1, args.end());
  if (sub == "upload") return RunUploadSubcommand(rest, out, err);
  if (sub == "list") return RunList(rest, out, err);
  if (sub == "get") return RunGet(rest, out, err);
  if (sub == "delete") return RunDelete(rest, out, err);
  if (sub == "load") return RunLoad(rest, out, err);
  err << "loraplex adapters: unknown subcommand '" << sub << "'\n\n" << kUsage;
  return kExitUsage;
}

}  // namespace loraplex::cli
