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
      SwitchFlag("compress",
                 "if its rank is over the server's --max-lora-rank, store "
                 "it compressed to that rank (truncated SVD)"),
      ValueFlag("compress-rank", "store it compressed to rank K"),
      ValueFlag("compress-energy",
                "store it compressed, per module keeping this fraction of "
                "the update's energy, in (0, 1]"),
  };
  for (FlagSpec& spec : ClientFlagSpecs()) specs.push_back(std::move(spec));
  absl::StatusOr<CommandLine> cl = CommandLine::Parse(args, specs);
  if (!cl.ok()) return UsageError(err, kCommand, cl.status());
  if (SwitchOn(*cl, "help")) {
    out << FormatHelp(
        "loraplex adapters upload NAME DIR [--public] [--description TEXT]\n"
        "                         [--compress | --compress-rank K | "
        "--compress-energy E]",
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
  const int compression_flags = (SwitchOn(*cl, "compress") ? 1 : 0) +
                                (cl->Has("compress-rank") ? 1 : 0) +
                                (cl->Has("compress-energy") ? 1 : 0);
  if (compression_flags > 1) {
    return UsageError(err, kCommand,
                      absl::InvalidArgumentError(
                          "give at most one of --compress, --compress-rank "
                          "and --compress-energy"));
  }
  if (SwitchOn(*cl, "compress")) spec.compression.set_to_max_lora_rank(true);
  if (cl->Has("compress-rank")) {
    absl::StatusOr<int64_t> rank = cl->GetInt("compress-rank");
    if (!rank.ok()) return UsageError(err, kCommand, rank.status());
    spec.compression.set_rank(static_cast<int32_t>(*rank));
  }
  if (cl->Has("compress-energy")) {
    absl::StatusOr<double> energy = cl->GetDouble("compress-energy");
    if (!energy.ok()) return UsageError(err, kCommand, energy.status());
    spec.compression.set_energy(*energy);
  }

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
    if (adapter->compression().compressed()) {
      out << absl::StrFormat(
          "compressed from rank %d to %d, %.4f of the energy kept\n",
          adapter->compression().original_rank(),
          adapter->compression().stored_rank(),
          adapter->compression().retained_energy());
    }
  }
  return kExitOk;
}

}  // namespace loraplex::cli
