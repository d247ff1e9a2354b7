#include "tools/cli/upload_command.h"

#include <memory>
#include <optional>
#include <ostream>

#include "absl/strings/str_format.h"
#include "tools/cli/adapter_printing.h"
#include "tools/cli/cli_command.h"
#include "tools/cli/client_flags.h"
#include "tools/cli/progress_bar.h"
#include "tools/client/adapter_upload.h"
#include "tools/client/proto_json.h"

namespace loraplex::cli {

namespace {
constexpr char kCommand[] = "adapters upload";
}  // namespace

int RunUploadSubcommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  std::vector<FlagSpec> specs = {
      SwitchFlag("public", "every tenant may read and use it"),
      ValueFlag("description", "free text, at most 1024 bytes"),
      ValueFlag("owner", "owning tenant (admins only; default: yours)"),
  };
  for (FlagSpec& spec : ClientFlagSpecs()) specs.push_back(std::move(spec));
  absl::StatusOr<CommandLine> cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, kCommand, cl.status());
  if (SwitchOn(*cl, "help")) {
    out << FormatHelp(
        "loraplex adapters upload NAME DIR [--public] [--description TEXT]",
        "Uploads the PEFT LoRA adapter in DIR (adapter_config.json and "
        "adapter_model.safetensors;\nother files there are not sent) under "
        "NAME. SHA-256 is computed locally and checked by the\nserver, which "
        "validates the adapter against its base model before storing it.\n"
        "A progress bar shows on standard error when it is a terminal.",
        specs);
    return kExitOk;
  }
  if (cl->positional().size() != 2) {
    return UsageError(err, kCommand,
                      absl::InvalidArgumentError("expected NAME and DIR"));
  }
  absl::StatusOr<tools::ConnectionOptions> connection =
      ConnectionOptionsFrom(*cl);
  if (!connection.ok()) return UsageError(err, kCommand, connection.status());
  tools::AdapterUploadSpec spec;
  spec.name = cl->positional()[0];
  spec.dir = cl->positional()[1];
  spec.owner = cl->Get("owner");
  spec.description = cl->Get("description");
  spec.is_public = SwitchOn(*cl, "public");

  std::optional<ProgressBar> bar;
  if (StderrIsTerminal()) bar.emplace(err);
  tools::UploadProgressFn progress;
  if (bar) {
    progress = [&bar](uint64_t sent, uint64_t total) {
      bar->Update(sent, total);
    };
  }
  auto stub =
      loraplex::v1::AdapterService::NewStub(tools::MakeChannel(*connection));
  absl::StatusOr<loraplex::v1::Adapter> adapter =
      tools::UploadAdapterDir(*stub, *connection, spec, progress);
  if (bar) bar->Finish();
  if (!adapter.ok()) return ReportError(err, adapter.status());
  if (WantsJson(*cl)) {
    out << tools::ProtoToJson(*adapter) << "\n";
  } else {
    out << absl::StrFormat("uploaded %s version %s (%s, rank %d)\n",
                           QualifiedName(*adapter), adapter->version(),
                           HumanBytes(adapter->size_bytes()), adapter->rank());
  }
  return kExitOk;
}

}  // namespace loraplex::cli
