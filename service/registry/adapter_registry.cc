#include "service/registry/adapter_registry.h"

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/common/status_macros.h"
#include "service/auth/sha256.h"

namespace loraplex::service {
namespace {

constexpr absl::string_view kPageTokenPrefix = "v1:";

// Bytes that follow a UTF-8 lead byte, or -1 if it cannot start a sequence
// (a continuation byte, or a lead of an overlong or too-large form).
int ContinuationBytes(unsigned char lead) {
  if (lead < 0x80) {
    return 0;
  }
  if (lead >= 0xc2 && lead <= 0xdf) {
    return 1;
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    return 2;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    return 3;
  }
  return -1;
}

}  // namespace

// nlohmann::json refuses to write anything but strict UTF-8.
bool IsValidUtf8(absl::string_view text) {
  static constexpr uint32_t kMinCodePoint[] = {0, 0x80, 0x800, 0x10000};
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const int extra = ContinuationBytes(lead);
    if (extra < 0 || text.size() - i <= static_cast<size_t>(extra)) {
      return false;
    }
    uint32_t code_point = extra == 0 ? lead : lead & (0x3f >> extra);
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) {
        return false;
      }
      code_point = (code_point << 6) | (next & 0x3f);
    }
    if (code_point < kMinCodePoint[extra] || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff)) {
      return false;
    }
    i += 1 + extra;
  }
  return true;
}

namespace {

absl::Status ValidateUploadFiles(const std::vector<AdapterFileRecord>& files,
                                 uint64_t max_upload_bytes) {
  std::set<std::string> seen;
  uint64_t total_bytes = 0;
  for (const AdapterFileRecord& file : files) {
    if (!IsAdapterFilename(file.filename)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected file \"", absl::CHexEscape(file.filename),
                       "\": an adapter is exactly ", kAdapterConfigFilename,
                       " and ", kAdapterWeightsFilename));
    }
    if (!seen.insert(file.filename).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.filename, " is declared twice"));
    }
    if (!IsSha256Hex(file.sha256)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the sha256 of ", file.filename, " must be 64 hex digits"));
    }
    // Checked one by one first so that the sum cannot overflow.
    if (file.size_bytes > max_upload_bytes ||
        total_bytes + file.size_bytes > max_upload_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the adapter's files exceed the server's upload "
                       "limit of ",
                       max_upload_bytes, " bytes"));
    }
    total_bytes += file.size_bytes;
  }
  if (seen.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("an upload must declare both ", kAdapterConfigFilename,
                     " and ", kAdapterWeightsFilename));
  }
  return absl::OkStatus();
}

}  // namespace

UploadSpec UploadSpecOf(const AdapterRecord& record) {
  UploadSpec spec;
  spec.tenant = record.tenant;
  spec.name = record.name;
  spec.description = record.description;
  spec.visibility = record.visibility;
  // With compression the stored files are the server's rewrite.
  if (record.compression.has_value()) {
    spec.files = record.compression->uploaded_files;
    spec.compression = record.compression->request;
  } else {
    spec.files = record.files;
  }
  return spec;
}

bool IsRetryOf(const UploadSpec& spec, const AdapterRecord& stored) {
  // A retry sends what was uploaded, and asks for the same compression.
  const UploadSpec original = UploadSpecOf(stored);
  const std::vector<AdapterFileRecord>& uploaded = original.files;
  if (spec.tenant != stored.tenant || spec.name != stored.name ||
      spec.description != stored.description ||
      spec.visibility != stored.visibility ||
      !(spec.compression == original.compression) ||
      spec.files.size() != uploaded.size()) {
    return false;
  }
  for (const AdapterFileRecord& declared : spec.files) {
    const auto same = [&](const AdapterFileRecord& file) {
      return file.filename == declared.filename &&
             file.size_bytes == declared.size_bytes &&
             absl::EqualsIgnoreCase(file.sha256, declared.sha256);
    };
    if (std::none_of(uploaded.begin(), uploaded.end(), same)) {
      return false;
    }
  }
  return true;
}

absl::Status ValidateUploadSpec(const UploadSpec& spec,
                                uint64_t max_upload_bytes) {
  RETURN_IF_ERROR(ValidateTenantName(spec.tenant));
  RETURN_IF_ERROR(ValidateAdapterName(spec.name));
  if (spec.description.size() > kMaxDescriptionBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the description has ", spec.description.size(),
                     " bytes; at most ", kMaxDescriptionBytes, " are allowed"));
  }
  if (!IsValidUtf8(spec.description)) {
    return absl::InvalidArgumentError("the description is not valid UTF-8");
  }
  const CompressionRequest& compression = spec.compression;
  if (compression.target == CompressionRequest::Target::kRank &&
      compression.rank < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compression.rank must be at least 1 (got ", compression.rank, ")"));
  }
  if (compression.target == CompressionRequest::Target::kEnergy &&
      !(compression.energy > 0 && compression.energy <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compression.energy must be in (0, 1] (got ", compression.energy, ")"));
  }
  return ValidateUploadFiles(spec.files, max_upload_bytes);
}

std::string EncodePageToken(const AdapterRef& last) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kPageTokenPrefix, last.ToString()));
}

absl::StatusOr<AdapterRef> DecodePageToken(absl::string_view token) {
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(token, &decoded) ||
      !absl::StartsWith(decoded, kPageTokenPrefix) ||
      decoded.find('/') == std::string::npos) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  absl::StatusOr<AdapterRef> ref = ParseAdapterRef(
      absl::string_view(decoded).substr(kPageTokenPrefix.size()), "");
  if (!ref.ok()) {
    return absl::InvalidArgumentError("malformed page_token");
  }
  return ref;
}

absl::StatusOr<int32_t> ResolvePageSize(int32_t page_size) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must not be negative (got ", page_size, ")"));
  }
  if (page_size == 0) {
    return kDefaultPageSize;
  }
  return std::min(page_size, kMaxPageSize);
}

}  // namespace loraplex::service
