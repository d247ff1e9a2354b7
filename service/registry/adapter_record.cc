#include "service/registry/adapter_record.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "service/auth/sha256.h"

namespace loraplex::service {
namespace {

using Json = nlohmann::json;

constexpr int kMetadataFormat = 1;

Json SummaryToJson(const engine::LoraAdapterSummary& summary) {
  return Json{{"max_rank", summary.max_rank},
              {"lora_alpha", summary.lora_alpha},
              {"use_rslora", summary.use_rslora},
              {"targets", summary.targets},
              {"num_modules", summary.num_modules},
              {"weight_bytes", summary.weight_bytes}};
}

engine::LoraAdapterSummary SummaryFromJson(const Json& json) {
  engine::LoraAdapterSummary summary;
  summary.max_rank = json.at("max_rank").get<int64_t>();
  summary.lora_alpha = json.at("lora_alpha").get<double>();
  summary.use_rslora = json.at("use_rslora").get<bool>();
  summary.targets = json.at("targets").get<std::vector<std::string>>();
  summary.num_modules = json.at("num_modules").get<int64_t>();
  summary.weight_bytes = json.at("weight_bytes").get<uint64_t>();
  return summary;
}

Json FilesToJson(const std::vector<AdapterFileRecord>& records) {
  Json files = Json::array();
  for (const AdapterFileRecord& file : records) {
    files.push_back({{"filename", file.filename},
                     {"sha256", file.sha256},
                     {"size_bytes", file.size_bytes}});
  }
  return files;
}

std::vector<AdapterFileRecord> FilesFromJson(const Json& json) {
  std::vector<AdapterFileRecord> files;
  for (const Json& file : json) {
    files.push_back({file.at("filename").get<std::string>(),
                     file.at("sha256").get<std::string>(),
                     file.at("size_bytes").get<uint64_t>()});
  }
  std::sort(files.begin(), files.end(),
            [](const AdapterFileRecord& a, const AdapterFileRecord& b) {
              return a.filename < b.filename;
            });
  return files;
}

constexpr std::pair<CompressionRequest::Target, const char*> kTargetNames[] = {
    {CompressionRequest::Target::kNone, "none"},
    {CompressionRequest::Target::kToMaxLoraRank, "to_max_lora_rank"},
    {CompressionRequest::Target::kRank, "rank"},
    {CompressionRequest::Target::kEnergy, "energy"},
};

Json CompressionToJson(const StoredCompression& compression) {
  std::string target;
  for (const auto& [value, name] : kTargetNames) {
    if (value == compression.request.target) target = name;
  }
  return Json{{"target", target},
              {"rank", compression.request.rank},
              {"energy", compression.request.energy},
              {"compressed", compression.compressed},
              {"original_rank", compression.original_rank},
              {"stored_rank", compression.stored_rank},
              {"retained_energy", compression.retained_energy},
              {"uploaded_files", FilesToJson(compression.uploaded_files)}};
}

absl::StatusOr<StoredCompression> CompressionFromJson(const Json& json) {
  StoredCompression compression;
  const std::string target = json.at("target").get<std::string>();
  bool known = false;
  for (const auto& [value, name] : kTargetNames) {
    if (target == name) {
      compression.request.target = value;
      known = true;
    }
  }
  if (!known) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adapter metadata: unknown compression target \"", target, "\""));
  }
  compression.request.rank = json.at("rank").get<int64_t>();
  compression.request.energy = json.at("energy").get<double>();
  compression.compressed = json.at("compressed").get<bool>();
  compression.original_rank = json.at("original_rank").get<int64_t>();
  compression.stored_rank = json.at("stored_rank").get<int64_t>();
  compression.retained_energy = json.at("retained_energy").get<double>();
  compression.uploaded_files = FilesFromJson(json.at("uploaded_files"));
  return compression;
}

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("adapter metadata: ", what));
}

// Field checks beyond JSON types: what a record read back from disk must
// satisfy before it is served.
absl::Status CheckFiles(const std::vector<AdapterFileRecord>& files) {
  if (files.size() != 2 || files[0].filename != kAdapterConfigFilename ||
      files[1].filename != kAdapterWeightsFilename) {
    return Invalid(absl::StrCat("files must be exactly ",
                                kAdapterConfigFilename, " and ",
                                kAdapterWeightsFilename));
  }
  for (const AdapterFileRecord& file : files) {
    const bool lower_case =
        std::none_of(file.sha256.begin(), file.sha256.end(), [](char c) {
          return absl::ascii_isupper(static_cast<unsigned char>(c));
        });
    if (!IsSha256Hex(file.sha256) || !lower_case) {
      return Invalid(absl::StrCat("bad sha256 for ", file.filename));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRecord(const AdapterRecord& record) {
  RETURN_IF_ERROR(ValidateTenantName(record.tenant));
  RETURN_IF_ERROR(ValidateAdapterName(record.name));
  if (!IsVersionId(record.version)) {
    return Invalid(absl::StrCat("bad version id \"", record.version, "\""));
  }
  RETURN_IF_ERROR(CheckFiles(record.files));
  if (record.compression.has_value()) {
    RETURN_IF_ERROR(CheckFiles(record.compression->uploaded_files));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsAdapterFilename(absl::string_view filename) {
  return filename == kAdapterConfigFilename ||
         filename == kAdapterWeightsFilename;
}

std::string AdapterRecord::engine_adapter_id() const {
  return absl::StrCat(tenant, "/", name, "@", version);
}

uint64_t AdapterRecord::size_bytes() const {
  uint64_t total = 0;
  for (const AdapterFileRecord& file : files) {
    total += file.size_bytes;
  }
  return total;
}

bool IsVersionId(absl::string_view version) {
  if (version.size() != 32) {
    return false;
  }
  return std::all_of(version.begin(), version.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
           (c >= 'a' && c <= 'f');
  });
}

std::string AdapterRecordToJson(const AdapterRecord& record) {
  Json json = {
      {"format", kMetadataFormat},
      {"tenant", record.tenant},
      {"name", record.name},
      {"version", record.version},
      {"description", record.description},
      {"visibility", std::string(VisibilityName(record.visibility))},
      {"files", FilesToJson(record.files)},
      {"summary", SummaryToJson(record.summary)},
      {"created_at", absl::FormatTime(absl::RFC3339_full, record.created_at,
                                      absl::UTCTimeZone())},
  };
  if (record.compression.has_value()) {
    json["compression"] = CompressionToJson(*record.compression);
  }
  // The registry only stores valid UTF-8; `replace` keeps dump() from
  // throwing should that ever break.
  return json.dump(2, ' ', /*ensure_ascii=*/false,
                   Json::error_handler_t::replace);
}

absl::StatusOr<AdapterRecord> AdapterRecordFromJson(absl::string_view text) {
  const Json json = Json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                                /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Invalid("not valid JSON");
  }
  AdapterRecord record;
  try {
    const int format = json.at("format").get<int>();
    if (format != kMetadataFormat) {
      return Invalid(absl::StrCat("unsupported format ", format));
    }
    record.tenant = json.at("tenant").get<std::string>();
    record.name = json.at("name").get<std::string>();
    record.version = json.at("version").get<std::string>();
    record.description = json.at("description").get<std::string>();
    ASSIGN_OR_RETURN(record.visibility,
                     ParseVisibility(json.at("visibility").get<std::string>()));
    record.files = FilesFromJson(json.at("files"));
    record.summary = SummaryFromJson(json.at("summary"));
    if (json.contains("compression")) {
      ASSIGN_OR_RETURN(record.compression,
                       CompressionFromJson(json.at("compression")));
    }
    const std::string created = json.at("created_at").get<std::string>();
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, created, &record.created_at,
                         &error)) {
      return Invalid(absl::StrCat("bad created_at: ", error));
    }
  } catch (const Json::exception& e) {
    return Invalid(e.what());
  }
  RETURN_IF_ERROR(CheckRecord(record));
  return record;
}

}  // namespace loraplex::service
