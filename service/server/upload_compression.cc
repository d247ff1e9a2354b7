#include "service/server/upload_compression.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/common/read_text_file.h"
#include "engine/common/status_macros.h"
#include "engine/lora/lora_adapter.h"
#include "engine/train/adapter_compression.h"
#include "service/registry/adapter_record.h"
#include "service/registry/file_util.h"

namespace loraplex::service {
namespace {

// Written inside the staging directory, then moved over the two files.
constexpr char kCompressedSubdir[] = "compressed";

// The largest rank the staged adapter_config.json names (r and every
// rank_pattern value): a bound on every module's rank; nullopt when the
// config does not read or parse (validation then says why).
std::optional<int64_t> ConfiguredMaxRank(const std::string& staged_dir) {
  absl::StatusOr<std::string> text = engine::ReadTextFile(
      file_util::JoinPath(staged_dir, kAdapterConfigFilename));
  if (!text.ok()) return std::nullopt;
  absl::StatusOr<engine::LoraAdapterConfig> config =
      engine::ParseLoraAdapterConfig(*text);
  if (!config.ok()) return std::nullopt;
  int64_t rank = config->r;
  for (const auto& [pattern, pattern_rank] : config->rank_pattern) {
    rank = std::max(rank, pattern_rank);
  }
  return rank;
}

absl::StatusOr<StoredCompression> CompressStaged(
    const std::string& staged_dir, const CompressionRequest& request,
    int64_t max_lora_rank) {
  engine::AdapterCompressionOptions options;
  options.adapter_dir = staged_dir;
  options.out_dir = file_util::JoinPath(staged_dir, kCompressedSubdir);
  switch (request.target) {
    case CompressionRequest::Target::kNone:
      return absl::InternalError("no compression was asked for");
    case CompressionRequest::Target::kToMaxLoraRank: {
      const std::optional<int64_t> rank = ConfiguredMaxRank(staged_dir);
      if (rank.has_value() && *rank <= max_lora_rank) {
        // Within the limit: stored as uploaded, no SVD needed (the registry
        // takes the original rank from validation).
        return StoredCompression{};
      }
      options.rank = max_lora_rank;
      break;
    }
    case CompressionRequest::Target::kRank:
      if (request.rank > max_lora_rank) {
        return absl::InvalidArgumentError(absl::StrCat(
            "compression.rank ", request.rank,
            " is over this server's --max-lora-rank ", max_lora_rank));
      }
      options.rank = request.rank;
      break;
    case CompressionRequest::Target::kEnergy:
      options.energy = request.energy;
      break;
  }
  absl::StatusOr<engine::AdapterCompressionReport> report =
      engine::CompressLoraAdapter(options);
  if (!report.ok()) {
    file_util::RemoveTree(options.out_dir).IgnoreError();
    return absl::Status(
        report.status().code(),
        absl::StrCat("compressing the adapter: ", report.status().message()));
  }
  StoredCompression stored;
  stored.original_rank = report->max_rank_in;
  if (request.target == CompressionRequest::Target::kToMaxLoraRank &&
      report->max_rank_in <= max_lora_rank) {
    // The config named a larger rank than any module has (a rank_pattern
    // entry that matches nothing): stored as uploaded after all.
    RETURN_IF_ERROR(file_util::RemoveTree(options.out_dir));
    return StoredCompression{};
  }
  for (const char* filename :
       {kAdapterConfigFilename, kAdapterWeightsFilename}) {
    RETURN_IF_ERROR(
        file_util::Rename(file_util::JoinPath(options.out_dir, filename),
                          file_util::JoinPath(staged_dir, filename)));
  }
  RETURN_IF_ERROR(file_util::RemoveTree(options.out_dir));
  stored.compressed = true;
  stored.retained_energy = report->retained_energy;
  return stored;
}

}  // namespace

AdapterCompressor UploadCompressor(int64_t max_lora_rank) {
  return [max_lora_rank](const std::string& staged_dir,
                         const CompressionRequest& request) {
    return CompressStaged(staged_dir, request, max_lora_rank);
  };
}

absl::Status WithCompressionHint(absl::Status error,
                                 const std::string& staged_dir,
                                 int64_t max_lora_rank) {
  if (!absl::IsInvalidArgument(error)) return error;
  const std::optional<int64_t> rank = ConfiguredMaxRank(staged_dir);
  if (!rank.has_value() || *rank <= max_lora_rank) return error;
  return absl::Status(
      error.code(),
      absl::StrCat(error.message(), "; to store it compressed to rank ",
                   max_lora_rank,
                   " instead, upload with UploadHeader.compression "
                   "{to_max_lora_rank: true} (loraplex adapters upload "
                   "--compress)"));
}

}  // namespace loraplex::service
